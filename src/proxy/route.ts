import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requestBody } from './body.js';
import { type ExchangeDeps, exchange } from './exchange.js';
import { upstreamPathOf } from './path.js';

export interface ProxyDeps extends ExchangeDeps {
  maxBodySize: number;
}

/**
 * `ANY /v1/*` over HTTP: the request's body streams in unparsed, the answer streams back as
 * it comes; everything between is `exchange`, the same path the library takes.
 */
export async function proxyRoutes(app: FastifyInstance, deps: ProxyDeps): Promise<void> {
  app.removeAllContentTypeParsers();
  // Leave the body unread in the socket: the exchange pipes it to the upstream as it comes.
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
  const handler = (request: FastifyRequest, reply: FastifyReply) => handle(deps, request, reply);
  app.all('/v1', handler);
  app.all('/v1/*', handler);
}

async function handle(deps: ProxyDeps, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const pathAndQuery = upstreamPathOf(request.raw.url ?? '/');
  const controller = new AbortController();
  // A client that leaves cancels the upstream call at once: it would go on generating (and billing).
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  const socket = request.raw.socket;
  const written = socket.bytesWritten; // HTTP/1.1 answers a socket's requests in order: the delta is ours
  const bytesIn = Number(request.headers['content-length'] ?? 0);
  const answer = await exchange(deps, {
    method: request.method,
    pathAndQuery,
    headers: request.headers,
    body: requestBody(request, deps.maxBodySize),
    source: request.ip,
    signal: controller.signal,
    cancel: () => controller.abort(),
    measure: () => ({ durationMs: Math.round(reply.elapsedTime), bytesIn, bytesOut: socket.bytesWritten - written }),
    onPrincipal: (p) => {
      request.principal = { userId: p.user.id, tokenId: p.token.id, upstream: p.upstream.name };
    },
    // Server-Timing (W3C): the proxy's own time, from the request's arrival to the upstream call.
    beforeForward: () => void reply.header('server-timing', `soakp;dur=${reply.elapsedTime.toFixed(2)}`),
  });
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}
