import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator } from './authenticate.js';
import { requestBody } from './body.js';
import type { Forwarder } from './forward.js';
import { downstreamResponseHeaders } from './headers.js';
import { upstreamPathOf } from './path.js';

export interface ProxyDeps {
  auth: Authenticator;
  forwarder: Forwarder;
  maxBodySize: number;
}

/**
 * `ANY /v1/*`: authenticate, then stream the request to the caller's upstream with the
 * token swapped for the key, and stream the answer back as it arrives. Bodies are never
 * parsed here: they pass as bytes, whatever their type.
 */
export async function proxyRoutes(app: FastifyInstance, deps: ProxyDeps): Promise<void> {
  app.removeAllContentTypeParsers();
  // Leave the body unread in the socket: the handler pipes it to the upstream as it comes.
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
  const handler = (request: FastifyRequest, reply: FastifyReply) => handle(deps, request, reply);
  app.all('/v1', handler);
  app.all('/v1/*', handler);
}

async function handle(deps: ProxyDeps, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const pathAndQuery = upstreamPathOf(request.raw.url ?? '/');
  const path = pathAndQuery.split('?', 1)[0] as string;
  const principal = await deps.auth.authenticate(request.headers, { method: request.method, path });
  request.principal = { userId: principal.user.id, tokenId: principal.token.id, upstream: principal.upstream.name };
  const body = requestBody(request, deps.maxBodySize);
  const controller = new AbortController();
  // A client that leaves cancels the upstream call at once: it would go on generating (and billing).
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  // Server-Timing (W3C): the proxy's own time before the upstream was called.
  reply.header('server-timing', `soakp;dur=${reply.elapsedTime.toFixed(2)}`);
  const res = await deps.forwarder.forward({
    upstream: principal.upstream,
    key: principal.key,
    method: request.method,
    pathAndQuery,
    headers: request.headers,
    body,
    signal: controller.signal,
  });
  return reply.code(res.status).headers(downstreamResponseHeaders(res.headers)).send(res.body);
}
