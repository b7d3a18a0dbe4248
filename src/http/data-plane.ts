import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { upstreamPathOf } from '../proxy/path.js';
import { type ProxyDeps, type RouteContext, proxyRequest } from '../proxy/route.js';
import { SoakpError, isSoakpError, toEnvelope } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { RequestPrincipal } from './types.js';

export interface DataPlaneDeps {
  proxy: ProxyDeps;
  logger: Logger;
  /** The access log: one line per request, ids and counts only. */
  access: Logger;
  state: { closing: boolean };
  /** Called after each answer once shutdown has begun (the server closes idle connections). */
  answeredWhileClosing?(): void;
  nextId(): string;
}

/** Whether a request URL belongs to the data plane (`/v1`, `/v1/…`, `/v1?…`). */
export function isDataPlane(url: string): boolean {
  return url.startsWith('/v1/') || url === '/v1' || url.startsWith('/v1?');
}

/**
 * The data plane's HTTP entry, on the raw node:http request: it is paid on every model call,
 * so it skips Fastify's request and reply objects, hooks and routing (the control plane keeps
 * them). It does what those did for /v1: request ids, 503 while shutting down, errors in
 * OpenAI's envelope, and the access log line.
 */
export function dataPlaneHandler(deps: DataPlaneDeps): RequestListener {
  return (req, res) => {
    const startedAt = performance.now();
    const reqId = deps.nextId();
    const socket = req.socket;
    const readAtStart = socket.bytesRead;
    const writtenAtStart = socket.bytesWritten;
    let principal: RequestPrincipal | undefined;
    const extra: Record<string, string> = { 'x-request-id': reqId };
    const closing = (): boolean => deps.state.closing;
    res.once('close', () => {
      const upstreamId = res.getHeader('x-request-id');
      deps.access.info(
        {
          reqId, ...principal, method: req.method, path: (req.url ?? '').split('?', 1)[0], status: res.statusCode,
          ms: Math.round(performance.now() - startedAt), bytesIn: socket.bytesRead - readAtStart, bytesOut: socket.bytesWritten - writtenAtStart,
          upstreamRequestId: upstreamId === reqId ? undefined : upstreamId,
        },
        'request',
      );
      // A connection that falls idle during shutdown would otherwise wait out its keep-alive.
      if (deps.state.closing) deps.answeredWhileClosing?.();
    });
    const fail = (err: unknown): void => answerError(deps.logger, reqId, req, res, { ...extra, ...(closing() ? { connection: 'close' } : {}) }, err);
    if (deps.state.closing) return fail(new SoakpError('shutting_down', 'The server is shutting down; retry the request.'));
    let pathAndQuery: string;
    try {
      pathAndQuery = upstreamPathOf(req.url ?? '/');
    } catch (err) {
      return fail(err);
    }
    const onPrincipal: RouteContext['onPrincipal'] = (p) => {
      principal = { userId: p.user.id, tokenId: p.token.id, upstream: p.upstream.name };
    };
    proxyRequest(deps.proxy, req, res, { pathAndQuery, startedAt, extra, closing, onPrincipal, fail }).catch(fail);
  };
}

/** An error as an answer in OpenAI's envelope; mid-answer, the connection is cut instead. */
function answerError(logger: Logger, reqId: string, req: IncomingMessage, res: ServerResponse, extra: Record<string, string>, error: unknown): void {
  const err = isSoakpError(error) ? error : new SoakpError('internal_error', 'The proxy failed to handle the request.', { cause: error });
  if (err.status >= 500) logger.error({ reqId, err: error }, 'request failed');
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(toEnvelope(err).body);
  const headers: Record<string, string | number> = { ...err.headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'x-request-id': extra['x-request-id'] as string };
  // A refused request whose body was not read (413, or refused before forwarding) would leave
  // the client writing into a socket nobody reads: answer, then close the connection.
  if (!req.complete || extra.connection) headers.connection = 'close';
  res.writeHead(err.status, headers).end(text);
}
