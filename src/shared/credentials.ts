import type { IncomingHttpHeaders } from 'node:http';
import { SoakpError } from './errors.js';

/** Every header a caller may present a credential in. Node lower-cases header names. */
export const CREDENTIAL_HEADERS = ['authorization', 'api-key', 'x-api-key'] as const;

/**
 * The one credential a request carries, whichever header holds it. Two different values in
 * two carriers are refused rather than guessed between: a gate that reads one header and a
 * forwarder that reads another is how restrictions get bypassed.
 */
export function credentialOf(headers: IncomingHttpHeaders): string {
  const found = new Set<string>();
  for (const name of CREDENTIAL_HEADERS) {
    const raw = headers[name];
    if (raw === undefined) continue;
    if (Array.isArray(raw)) throw new SoakpError('invalid_api_key', `The ${name} header appears more than once.`);
    found.add(name === 'authorization' ? bearer(raw) : raw.trim());
  }
  if (found.size === 0) {
    throw new SoakpError('missing_api_key', "You didn't provide an API key. Send your soakp token as 'Authorization: Bearer sk-soakp-…'.");
  }
  if (found.size > 1) throw new SoakpError('invalid_api_key', 'The request carries different credentials in different headers.');
  return [...found][0] as string;
}

function bearer(value: string): string {
  // RFC 6750 §2.1: the scheme is case-insensitive; one or more spaces before the token.
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(value);
  if (!m) throw new SoakpError('invalid_api_key', "The Authorization header must be 'Bearer <token>'.");
  return m[1] as string;
}
