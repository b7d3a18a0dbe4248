import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { AccessLog, Logger } from '../shared/index.js';
import { SoakpError, rawErrorAnswer, toEnvelope } from '../shared/index.js';
import type { Principal } from './authenticate.js';
import { upstreamPathOf } from './path.js';
import { type PipelineDeps, runPipeline } from './pipeline.js';
import type { Upgrade } from './tunnel.js';

// Browsers cannot set headers on a WebSocket: OpenAI accepts the key as this subprotocol.
const KEY_PROTOCOL = 'openai-insecure-api-key.';

export interface RealtimeEdge {
  logger: Logger;
  access: AccessLog;
  nextId(): string;
  /** The client's address (the `trustProxy` setting). */
  addressOf(req: IncomingMessage): string | null;
}

/**
 * WebSocket passthrough (`/v1/realtime`): the upgrade goes through the same pipeline as every
 * other request (authentication, scopes, limits; a session holds a concurrency slot while
 * open), whose forward stage joins the two sockets (tunnel.ts). A refusal is answered on the
 * raw socket in OpenAI's envelope; the access line is written when the session ends.
 */
export function realtimeUpgrade(deps: PipelineDeps, edge: RealtimeEdge) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const startedAt = performance.now();
    const reqId = edge.nextId();
    const { headers, carriers, protocols } = withKeyFromProtocol(req);
    const upgrade: Upgrade = { socket, head, protocols, status: 0 };
    let principal: Principal | undefined;
    const fail = (err: unknown): void => {
      upgrade.status = toEnvelope(err).status;
      if (upgrade.status >= 500) edge.logger.error({ reqId, err }, 'websocket upgrade failed');
      if (socket.writable) socket.end(rawErrorAnswer(err, { 'x-request-id': reqId }));
    };
    socket.once('close', () => {
      const s = socket as Socket;
      edge.access.write({
        reqId, userId: principal?.user.id, tokenId: principal?.token.id, upstream: principal?.upstream.name, method: 'GET', path: (req.url ?? '').split('?', 1)[0] as string,
        status: upgrade.status || 499, ms: Math.round(performance.now() - startedAt), bytesIn: s.bytesRead ?? 0, bytesOut: s.bytesWritten ?? 0,
      });
    });
    try {
      const pathAndQuery = upstreamPathOf(req.url ?? '/');
      if (!/^\/realtime(\/|$)/.test(pathAndQuery.split('?', 1)[0] as string)) throw new SoakpError('not_found', 'WebSocket upgrades are served on /v1/realtime only.');
      // The session's model comes in the query (`?model=…`), as OpenAI's realtime API takes it.
      const model = new URLSearchParams(pathAndQuery.split('?')[1] ?? '').get('model');
      runPipeline(deps, {
        request: { method: 'GET', pathAndQuery, headers, rawHeaders: carriers, body: null, fields: model === null ? {} : { model }, source: edge.addressOf(req) },
        startedAt, bytesIn: 0, upgrade, extra: {}, fail,
        gone: () => socket.destroyed,
        closing: () => false,
        onPrincipal: (p) => void (principal = p),
        bytesOut: () => 0,
      });
    } catch (err) {
      fail(err);
    }
  };
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
