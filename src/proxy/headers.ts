import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Upstream } from '../config/upstreams.js';
import type { Secret } from '../shared/secret.js';

// RFC 9110 §7.6.1: hop-by-hop headers, plus `host` (set from the upstream URL) and the
// framing headers that undici computes itself for the outgoing body.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'http2-settings',
]);

// The caller's credentials and identity, and what would tell the upstream about our network.
const PRIVATE = new Set(['authorization', 'api-key', 'x-api-key', 'cookie', 'forwarded', 'x-real-ip', 'via', 'expect']);
const PRIVATE_PREFIX = /^(x[-_]openwebui[-_]|x[-_]forwarded[-_]|x[-_]soakp[-_])/;

/**
 * Headers for the upstream: everything the caller sent, less hop-by-hop headers (including
 * any named in `Connection:`), credentials, identity and forwarding headers; then — after
 * removal, so nothing can override it — the upstream's own headers and the real key.
 */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, upstream: Upstream, key: Secret<string>): Record<string, string | string[]> {
  const listed = connectionListed(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    // `api_key` and `api-key` are one header to CGI/WSGI-style servers: match every spelling.
    const canon = name.replace(/_/g, '-');
    if (value === undefined || HOP_BY_HOP.has(canon) || PRIVATE.has(canon) || listed.has(name) || listed.has(canon) || PRIVATE_PREFIX.test(canon)) continue;
    out[name] = value;
  }
  // Answers come back uncompressed so the usage in them can be read for accounting and
  // budgets (a gzip body could not be, and a compressed stream could not be cut off).
  out['accept-encoding'] = 'identity';
  for (const [name, value] of Object.entries(upstream.headers)) out[name.toLowerCase()] = value;
  if (upstream.auth === 'bearer') out.authorization = `Bearer ${key.reveal()}`;
  else out[upstream.auth] = key.reveal();
  return out;
}

/** The upstream's response headers for the caller: all but hop-by-hop and `set-cookie`. */
export function downstreamResponseHeaders(incoming: IncomingHttpHeaders | Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const listed = connectionListed(incoming.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name) || name === 'set-cookie') continue;
    out[name] = value;
  }
  return out;
}

function connectionListed(value: string | string[] | undefined): Set<string> {
  if (value === undefined) return new Set();
  const text = Array.isArray(value) ? value.join(',') : value;
  return new Set(text.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean));
}
