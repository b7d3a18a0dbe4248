import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { endpointFamily } from '../domain/policy.js';
import type { PolicyEngine, Ticket } from '../policy/engine.js';
import { type RequestFields, inspectBody, withStreamUsage } from '../policy/inspect.js';
import type { UsageObservation } from '../policy/ports.js';
import { tapResponse } from '../policy/usage-tap.js';
import { isSoakpError } from '../shared/errors.js';
import type { Authenticator } from './authenticate.js';
import { requestBody } from './body.js';
import type { Forwarder } from './forward.js';
import { downstreamResponseHeaders } from './headers.js';
import { upstreamPathOf } from './path.js';

export interface ProxyDeps {
  auth: Authenticator;
  forwarder: Forwarder;
  policies: PolicyEngine;
  maxBodySize: number;
  inspectLimit: number;
}

/**
 * `ANY /v1/*`: authenticate → authorise (scopes) → admit (rate limits, budget) → forward
 * with the token swapped for the key → account (usage, settle). Bodies are never parsed on
 * the way through: they pass as bytes, whatever their type, streamed both ways.
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
  const principal = await deps.auth.authenticate(request.headers, { method: request.method, path }).catch((err: unknown) => {
    if (isSoakpError(err) && err.status === 401) deps.policies.authFailed(request.ip);
    throw err;
  });
  request.principal = { userId: principal.user.id, tokenId: principal.token.id, upstream: principal.upstream.name };
  const ctx = { user: principal.user, token: principal.token, upstream: principal.upstream.name, family: endpointFamily(path), source: request.ip };
  deps.policies.checkRoute(ctx);
  let body: Readable | Buffer | null = requestBody(request, deps.maxBodySize);
  let headers = request.headers;
  let fields: RequestFields = {};
  if (body && deps.policies.needsFields(ctx)) {
    const inspected = await inspectBody(body, String(request.headers['content-type'] ?? ''), deps.inspectLimit);
    ({ body, fields } = inspected);
    if (inspected.whole && deps.policies.wantsStreamUsage(ctx, fields)) {
      body = withStreamUsage(inspected.whole);
      headers = { ...headers, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
    }
  }
  const ticket = await deps.policies.admit(ctx, fields, Number(request.headers['content-length'] ?? 0));
  reply.headers(ticket.headers);
  const controller = new AbortController();
  // A client that leaves cancels the upstream call at once: it would go on generating (and billing).
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  // Server-Timing (W3C): the proxy's own time before the upstream was called.
  reply.header('server-timing', `soakp;dur=${reply.elapsedTime.toFixed(2)}`);
  const socket = request.raw.socket;
  const written = socket.bytesWritten; // HTTP/1.1 answers a socket's requests in order: the delta is ours
  const bytesIn = Number(request.headers['content-length'] ?? 0);
  const facts = (status: number, model: string | null) => ({ status, model, durationMs: Math.round(reply.elapsedTime), bytesIn, bytesOut: socket.bytesWritten - written });
  let res;
  try {
    res = await deps.forwarder.forward({ upstream: principal.upstream, key: principal.key, method: request.method, pathAndQuery, headers, body, signal: controller.signal });
  } catch (err) {
    finishEmpty(ticket, facts(isSoakpError(err) ? err.status : 502, fields.model ?? null));
    throw err;
  }
  const tapped = tapResponse(res.body, {
    endpoint: ctx.family,
    contentType: String(res.headers['content-type'] ?? ''),
    promptEstimate: ticket.promptTokens,
    completionCeiling: ticket.completionCeiling,
    onCutoff: () => controller.abort(),
  });
  const status = res.status;
  void tapped.usage.then((observed: UsageObservation) => ticket.finish(observed, facts(status, fields.model ?? null)));
  return reply.code(status).headers(downstreamResponseHeaders(res.headers)).send(tapped.body);
}

function finishEmpty(ticket: Ticket, facts: Parameters<Ticket['finish']>[1]): void {
  ticket.finish({ promptTokens: 0, completionTokens: 0, totalTokens: 0, source: 'none' }, facts);
}
