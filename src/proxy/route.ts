import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type Admitted, type ExchangeDeps, NO_USAGE, admit } from './admission.js';
import type { Client } from '../shared/index.js';
import type { Principal } from './authenticate.js';
import { requestBody } from './body.js';
import { Relay } from './relay.js';

export interface ProxyDeps extends ExchangeDeps {
  maxBodySize: number;
}

/** What the HTTP layer around the route supplies for one request. */
export interface RouteContext {
  /** The part after /v1, with its query (checked by upstreamPathOf). */
  readonly pathAndQuery: string;
  /** performance.now() when the request arrived. */
  readonly startedAt: number;
  /** Headers for the answer unless the upstream sends its own (x-request-id; server-timing is added here). */
  readonly extra: Record<string, string>;
  /** Who sent the request: the socket's peer, or the client a trusted proxy names (and whether it used HTTPS). */
  readonly client: Client;
  /** Whether shutdown has begun (asked when the answer starts). */
  closing(): boolean;
  onPrincipal(principal: Principal): void;
  /** Answers with an error envelope. */
  fail(err: unknown): void;
  /** Bytes of the answer's body written so far: the relay's, or soakp's error envelope. */
  bytesOut(): number;
  /** Set once the request is forwarded: the client's going away is the relay's to handle then. */
  relay?: Relay;
}

/**
 * `ANY /v1/*` over HTTP: the request's body streams in unparsed (unless a policy needs its
 * fields), the answer streams back as it comes. Every refusal and failure goes to `ctx.fail`.
 * A request admitted without waiting (see admitRequest) is forwarded in the same turn.
 */
export function proxyRequest(deps: ProxyDeps, req: IncomingMessage, res: ServerResponse, ctx: RouteContext): void {
  try {
    const source = ctx.client.address;
    const body = requestBody(req, deps.maxBodySize);
    admit(deps, { method: req.method ?? 'GET', pathAndQuery: ctx.pathAndQuery, headers: req.headers, rawHeaders: req.rawHeaders, body, source }, ctx.onPrincipal, (err, admitted) => {
      if (err) return ctx.fail(err);
      try {
        forward(deps, req, res, ctx, admitted as Admitted);
      } catch (failure) {
        ctx.fail(failure); // never back into admission, which has answered
      }
    });
  } catch (err) {
    ctx.fail(err);
  }
}

/** The request body's declared size (a chunked body declares none: 0). */
export function bodyBytes(req: IncomingMessage): number {
  const length = Number(req.headers['content-length'] ?? 0);
  return Number.isSafeInteger(length) && length > 0 ? length : 0;
}

function forward(deps: ProxyDeps, req: IncomingMessage, res: ServerResponse, ctx: RouteContext, a: Admitted): void {
  const bytesIn = bodyBytes(req);
  const measure = () => ({ durationMs: Math.round(performance.now() - ctx.startedAt), bytesIn, bytesOut: ctx.bytesOut() });
  if (req.socket.destroyed) return a.finish(NO_USAGE, { status: 499, ...measure() }); // it left while we decided
  // Server-Timing (W3C): the proxy's own time, from the request's arrival to the upstream call.
  ctx.extra['server-timing'] = `soakp;dur=${(performance.now() - ctx.startedAt).toFixed(2)}`;
  const relay = new Relay(a, req, res, ctx.extra, ctx.closing, measure, ctx.fail);
  ctx.relay = relay;
  try {
    deps.forwarder.dispatch({ upstream: a.principal.upstream, key: a.principal.key, method: req.method ?? 'GET', pathAndQuery: ctx.pathAndQuery, headers: a.headers, body: a.body }, relay);
  } catch (err) {
    relay.onError(err as Error); // settles the ticket, then answers the error
  }
}
