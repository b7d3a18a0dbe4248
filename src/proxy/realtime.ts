import { type IncomingHttpHeaders, type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../shared/index.js';
import { SoakpError, rawErrorAnswer, toEnvelope } from '../shared/index.js';
import type { PolicyEngine } from '../policy/index.js';
import type { Authenticator } from './authenticate.js';
import { upstreamRequestHeaders } from './headers.js';
import { upstreamPathOf } from './path.js';

// Browsers cannot set headers on a WebSocket: OpenAI accepts the key as this subprotocol.
const KEY_PROTOCOL = 'openai-insecure-api-key.';

/**
 * WebSocket passthrough (`/v1/realtime`): the upgrade is authenticated by the same decision
 * point as every other request, then the two sockets are joined byte for byte. Answers
 * other than 101 (the upstream's refusals) pass through as they came.
 */
export function realtimeUpgrade(auth: Authenticator, policies: PolicyEngine, logger: Logger, connectTimeoutMs: number, addressOf: (req: IncomingMessage) => string | null = (req) => req.socket.remoteAddress ?? null) {
  return (req: IncomingMessage, client: Duplex, head: Buffer): void => {
    void upgrade(auth, policies, req, client, head, connectTimeoutMs, addressOf(req)).then(
      (status) => logger.info({ method: 'GET', path: req.url?.split('?', 1)[0], status, upgrade: 'websocket' }, 'request'),
      (err: unknown) => {
        if (toEnvelope(err).status >= 500) logger.error({ err }, 'websocket upgrade failed');
        if (client.writable) client.end(rawErrorAnswer(err));
      },
    );
  };
}

async function upgrade(auth: Authenticator, policies: PolicyEngine, req: IncomingMessage, client: Duplex, head: Buffer, connectTimeoutMs: number, source: string | null): Promise<number> {
  const pathAndQuery = upstreamPathOf(req.url ?? '/');
  const path = pathAndQuery.split('?', 1)[0] as string;
  if (!/^\/realtime(\/|$)/.test(path)) throw new SoakpError('not_found', 'WebSocket upgrades are served on /v1/realtime only.');
  const { headers, carriers, protocols } = withKeyFromProtocol(req);
  const principal = await Promise.resolve().then(() => auth.authenticate(headers, { method: 'GET', path }, carriers)).catch((err: unknown) => {
    if (err instanceof SoakpError && err.status === 401) policies.authFailed(source);
    throw err;
  });
  // The same policies as every other request: scopes, and a session holds a concurrency slot while open.
  const ctx = { user: principal.user, token: principal.token, upstream: principal.upstream.name, family: 'realtime' as const, path, source };
  policies.checkRoute(ctx);
  // The session's model comes in the query (`?model=…`), as OpenAI's realtime API takes it.
  const model = new URLSearchParams(pathAndQuery.split('?')[1] ?? '').get('model');
  const ticket = await policies.admit(ctx, model === null ? {} : { model }, 0);
  const started = Date.now();
  client.once('close', () => ticket.finish({ promptTokens: 0, completionTokens: 0, totalTokens: 0, source: 'none' }, { status: 101, model: null, durationMs: Date.now() - started, bytesIn: (client as Socket).bytesRead, bytesOut: (client as Socket).bytesWritten }));
  const base = new URL(principal.upstream.baseUrl);
  const outgoing = upstreamRequestHeaders(headers, principal.upstream, principal.key);
  Object.assign(outgoing, { connection: 'Upgrade', upgrade: 'websocket' });
  if (protocols.length > 0) outgoing['sec-websocket-protocol'] = protocols.join(', ');
  const send = base.protocol === 'https:' ? httpsRequest : httpRequest;
  const upstreamReq = send({ host: base.hostname, port: base.port, path: `${base.pathname.replace(/\/$/, '')}${pathAndQuery}`, method: 'GET', headers: outgoing, timeout: connectTimeoutMs });
  client.once('close', () => upstreamReq.destroy()); // the caller left before the upstream answered
  return new Promise((resolve, reject) => {
    upstreamReq.once('timeout', () => upstreamReq.destroy(new SoakpError('upstream_timeout', `The upstream "${principal.upstream.name}" did not answer in time.`)));
    upstreamReq.once('error', (err) => reject(err instanceof SoakpError ? err : new SoakpError('upstream_unreachable', `The upstream "${principal.upstream.name}" could not be reached.`, { cause: err })));
    upstreamReq.once('response', (res) => {
      // Not upgraded: relay the upstream's answer (its refusal) and close.
      client.write(`HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n${rawHeaders(res.rawHeaders, ['connection', 'transfer-encoding', 'set-cookie'])}connection: close\r\n\r\n`);
      res.pipe(client);
      resolve(res.statusCode ?? 502);
    });
    upstreamReq.once('upgrade', (res, upstream, upstreamHead) => {
      upstreamReq.setTimeout(0);
      client.write(`HTTP/1.1 101 Switching Protocols\r\n${rawHeaders(res.rawHeaders, ['set-cookie'])}\r\n`);
      if (upstreamHead.length > 0) client.write(upstreamHead);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client).pipe(upstream);
      const close = () => {
        upstream.destroy();
        client.destroy();
      };
      upstream.once('close', close).once('error', close);
      client.once('close', close).once('error', close);
      resolve(101);
    });
    upstreamReq.end();
  });
}

/**
 * Takes keys sent as `openai-insecure-api-key.<token>` subprotocols out of the offer and
 * counts each as one more credential carrier (an Authorization header among the raw ones),
 * so that one beside a different key in a header is refused like any two credentials.
 */
function withKeyFromProtocol(req: IncomingMessage): { headers: IncomingHttpHeaders; carriers: readonly string[]; protocols: string[] } {
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  const keyed = offered.filter((p) => p.startsWith(KEY_PROTOCOL));
  const protocols = offered.filter((p) => !p.startsWith(KEY_PROTOCOL));
  const headers: IncomingHttpHeaders = { ...req.headers };
  delete headers['sec-websocket-protocol'];
  const carriers = keyed.length === 0 ? req.rawHeaders : [...req.rawHeaders, ...keyed.flatMap((p) => ['authorization', `Bearer ${p.slice(KEY_PROTOCOL.length)}`])];
  return { headers, carriers, protocols };
}

function rawHeaders(raw: string[], drop: string[]): string {
  let out = '';
  for (let i = 0; i < raw.length; i += 2) {
    if (!drop.includes((raw[i] as string).toLowerCase())) out += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return out;
}

