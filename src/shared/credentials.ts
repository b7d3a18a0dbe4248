import type { IncomingHttpHeaders } from 'node:http';
import { SoakpError } from './errors.js';

/** Every header a caller may present a credential in. Node lower-cases header names. */
export const CREDENTIAL_HEADERS = ['authorization', 'api-key', 'x-api-key'] as const;
type Carrier = (typeof CREDENTIAL_HEADERS)[number];

/**
 * The one credential a request carries, whichever header holds it. Two different values —
 * in two carriers, or in one header sent twice — are refused rather than guessed between:
 * a gate that reads one and a forwarder that reads another is how restrictions get bypassed.
 * The same credential repeated is accepted. Node keeps only the first `Authorization` and
 * joins repeated `api-key`s in `headers`, so a request's `rawHeaders` are read when given.
 */
export function credentialOf(headers: IncomingHttpHeaders, rawHeaders?: readonly string[]): string {
  const found = new Set<string>();
  if (rawHeaders) {
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const carrier = carrierOf(rawHeaders[i] as string);
      if (carrier !== undefined) found.add(valueIn(carrier, rawHeaders[i + 1] as string));
    }
  } else {
    for (const name of CREDENTIAL_HEADERS) {
      const raw = headers[name];
      if (raw === undefined) continue;
      for (const value of Array.isArray(raw) ? raw : [raw]) found.add(valueIn(name, value));
    }
  }
  if (found.size === 0) {
    throw new SoakpError('missing_api_key', "You didn't provide an API key. Send your soakp token as 'Authorization: Bearer sk-soakp-…'.");
  }
  if (found.size > 1) {
    throw new SoakpError('conflicting_credentials', 'The request carries different credentials (in Authorization, api-key, x-api-key or a WebSocket subprotocol); send one.');
  }
  return found.values().next().value as string;
}

// By length first: almost every header name is passed over without being lower-cased.
function carrierOf(name: string): Carrier | undefined {
  if (name.length === 13) return name.toLowerCase() === 'authorization' ? 'authorization' : undefined;
  if (name.length === 7) return name.toLowerCase() === 'api-key' ? 'api-key' : undefined;
  if (name.length === 9) return name.toLowerCase() === 'x-api-key' ? 'x-api-key' : undefined;
  return undefined;
}

function valueIn(carrier: Carrier, value: string): string {
  return carrier === 'authorization' ? bearer(value) : value.trim();
}

function bearer(value: string): string {
  // RFC 6750 §2.1: the scheme is case-insensitive; one or more spaces before the token.
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(value);
  if (!m) throw new SoakpError('invalid_api_key', "The Authorization header must be 'Bearer <token>'.");
  return m[1] as string;
}
