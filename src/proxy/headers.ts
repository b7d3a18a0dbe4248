import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Upstream } from '../config/index.js';
import type { Secret } from '../shared/index.js';
import { isEventStream } from '../metering/index.js';
import { headerName } from './undici-core.js';

// RFC 9110 §7.6.1: hop-by-hop headers, plus `host` (set from the upstream URL) and the
// framing headers that undici computes itself for the outgoing body.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'http2-settings',
]);

// The upstream's own policies for its host, which is not soakp's: its cookies, and its
// HSTS (OpenAI's says includeSubDomains and preload; over soakp's HTTPS a browser would apply
// it to soakp's host). soakp's own HSTS, when set, is added by the listener.
// Its CORS headers too: soakp answers browsers itself (an upstream's `*` must not reach a page).
const UPSTREAM_ONLY = new Set([
  'set-cookie', 'strict-transport-security', 'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods',
  'access-control-allow-headers', 'access-control-expose-headers', 'access-control-max-age', 'access-control-allow-private-network',
]);

const PLAIN_CONNECTION = /^\s*(?:keep-alive|close)\s*$/i;

// The caller's credentials and identity, and what would tell the upstream about our network.
const PRIVATE = new Set(['authorization', 'api-key', 'x-api-key', 'cookie', 'forwarded', 'x-real-ip', 'via', 'expect']);
const ORGANIZATION = new Set(['openai-organization', 'openai-project']);
const PRIVATE_PREFIX = /^(x[-_]openwebui[-_]|x[-_]forwarded[-_]|x[-_]soakp[-_])/;

/** What an upstream adds to every request: its own headers, lower-cased, and the key's header. Built once per upstream and key. */
const fixed = new WeakMap<Secret<string>, { upstream: Upstream; entries: Array<[string, string]> }>();

function upstreamEntries(upstream: Upstream, key: Secret<string>): Array<[string, string]> {
  let f = fixed.get(key);
  if (f?.upstream !== upstream) {
    const entries = Object.entries(upstream.headers).map(([name, value]): [string, string] => [name.toLowerCase(), value]);
    entries.push(upstream.auth === 'bearer' ? ['authorization', `Bearer ${key.reveal()}`] : [upstream.auth, key.reveal()]);
    fixed.set(key, (f = { upstream, entries }));
  }
  return f.entries;
}

/**
 * Headers for the upstream: everything the caller sent, less hop-by-hop headers (including
 * any named in `Connection:`), credentials, identity and forwarding headers, and the
 * organisation and project headers unless the upstream allows them; then — after
 * removal, so nothing can override it — the upstream's own headers and the real key.
 */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, upstream: Upstream, key: Secret<string>): Record<string, string | string[]> {
  const listed = connectionListed(incoming.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    // `api_key` and `api-key` are one header to CGI/WSGI-style servers: match every spelling.
    const canon = name.includes('_') ? name.replace(/_/g, '-') : name;
    if (value === undefined || HOP_BY_HOP.has(canon) || PRIVATE.has(canon)) continue;
    if (listed && (listed.has(name) || listed.has(canon))) continue;
    if (canon.charCodeAt(0) === 0x78 /* x */ && PRIVATE_PREFIX.test(canon)) continue;
    // They would steer the operator's key to another organisation or project it belongs to.
    if (canon.charCodeAt(0) === 0x6f /* o */ && ORGANIZATION.has(canon) && !upstream.forwardOrganization) continue;
    out[name] = value;
  }
  // Answers come back uncompressed so the usage in them can be read for accounting and
  // budgets (a gzip body could not be, and a compressed stream could not be cut off).
  out['accept-encoding'] = 'identity';
  for (const [name, value] of upstreamEntries(upstream, key)) out[name] = value;
  return out;
}

/** The upstream's response headers for the caller: all but hop-by-hop and UPSTREAM_ONLY. */
export function downstreamResponseHeaders(incoming: IncomingHttpHeaders | Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const listed = connectionListed(incoming.connection);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name) || UPSTREAM_ONLY.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** An answer's head as the relay writes it. */
export interface AnswerHead {
  /** Name, value, name, value…: what `writeHead` takes without building an object. */
  readonly list: string[];
  readonly contentType: string;
  /** The upstream's own request id, when it sent one. */
  readonly requestId: string | undefined;
}

/**
 * `downstreamResponseHeaders` from undici's raw header buffers, in one pass: soakp's own
 * headers (`own`, its x-ratelimit-*) replace the upstream's of the same name; `extra` are
 * added unless the upstream sent them. With `meteredStream`, an event stream's
 * `content-length` is left out: the meter may end it early with its own last event.
 */
export function answerHead(raw: readonly Buffer[], own: Readonly<Record<string, string>>, extra: Readonly<Record<string, string>>, meteredStream: boolean): AnswerHead {
  const list: string[] = [];
  let contentType = '';
  let requestId: string | undefined;
  let connection: string | undefined;
  let lengthAt = -1;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = headerName(raw[i] as Buffer);
    const value = (raw[i + 1] as Buffer).toString('latin1');
    if (HOP_BY_HOP.has(name)) {
      if (name === 'connection') connection = connection === undefined ? value : `${connection},${value}`;
      continue;
    }
    if (UPSTREAM_ONLY.has(name) || (name.startsWith('x-ratelimit-') && Object.hasOwn(own, name))) continue;
    if (name === 'content-type') contentType = value;
    else if (name === 'x-request-id') requestId = value;
    else if (name === 'content-length') lengthAt = list.length;
    list.push(name, value);
  }
  if (meteredStream && lengthAt >= 0 && isEventStream(contentType)) list.splice(lengthAt, 2);
  const listed = connectionListed(connection);
  if (listed) for (let i = list.length - 2; i >= 0; i -= 2) if (listed.has(list[i] as string)) list.splice(i, 2);
  for (const name in own) list.push(name, own[name] as string);
  for (const name in extra) {
    const at = indexOf(list, name);
    if (at === -1) list.push(name, extra[name] as string);
    // Vary lists what an answer depends on: the upstream's reasons and soakp's (Origin) both hold.
    else if (name === 'vary') list[at + 1] = `${list[at + 1] as string}, ${extra[name] as string}`;
  }
  return { list, contentType, requestId };
}

function indexOf(list: readonly string[], name: string): number {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return i;
  return -1;
}

/** The header names a `Connection:` value lists; undefined when it lists none beyond keep-alive and close. */
function connectionListed(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined || (typeof value === 'string' && PLAIN_CONNECTION.test(value))) return undefined; // the usual values list none
  const text = Array.isArray(value) ? value.join(',') : value;
  const names = text.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '' && s !== 'keep-alive' && s !== 'close');
  return names.length > 0 ? new Set(names) : undefined;
}
