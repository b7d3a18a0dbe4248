import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Call, Cors, Incoming, PipelineDeps, Principal } from '../proxy/index.js';
import { bodyBytes, requestBody, runPipeline, upstreamPathOf } from '../proxy/index.js';
import { SoakpError, errorAnswer } from '../shared/index.js';
import type { AccessLog, Client, Logger } from '../shared/index.js';
import type { InFlight } from './listener.js';

export interface DataPlaneDeps {
  proxy: PipelineDeps & { maxBodySize: number };
  logger: Logger;
  /** The access log: one line per request, ids and counts only (see accessLog). */
  access: AccessLog;
  state: { closing: boolean };
  /** Requests in flight, for graceful shutdown (the data plane counts its own). */
  inFlight?: InFlight;
  /** Called after each answer once shutdown has begun (the server closes idle connections). */
  answeredWhileClosing?(): void;
  nextId(): string;
  /** The client behind a request (the `trustProxy` setting). */
  clientOf(req: IncomingMessage): Client;
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
  return (req, res) => new HttpCall(deps, req, res).start();
}

/** One request on the data plane, as the pipeline sees it, and the one 'close' listener it needs. */
class HttpCall implements Call {
  readonly startedAt = performance.now();
  readonly reqId: string;
  readonly extra: Record<string, string>;
  request!: Incoming;
  relay: Call['relay'];
  #principal: Principal | undefined;
  /** Bytes of an error answer's body (an answer from the upstream counts its own: relay.bytesOut). */
  #errorBytes = 0;
  #client: Client | undefined;

  constructor(
    private readonly deps: DataPlaneDeps,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.reqId = deps.nextId();
    this.extra = { 'x-request-id': this.reqId };
    deps.inFlight?.enter();
    res.on('close', this.#closed);
  }

  start(): void {
    if (this.deps.state.closing) return this.fail(new SoakpError('shutting_down', 'The server is shutting down; retry the request.'));
    const { req } = this;
    try {
      const pathAndQuery = upstreamPathOf(req.url ?? '/');
      const body = requestBody(req, this.deps.proxy.maxBodySize);
      this.request = { method: req.method ?? 'GET', pathAndQuery, headers: req.headers, rawHeaders: req.rawHeaders, body, source: this.client.address };
    } catch (err) {
      return this.fail(err);
    }
    const { cors } = this.deps.proxy;
    const origin = req.headers.origin;
    // A browser's CORS preflight: answered here, for every origin, and never forwarded.
    if (req.method === 'OPTIONS' && origin !== undefined && req.headers['access-control-request-method'] !== undefined) return this.#preflight(cors);
    if (cors?.active) cors.decorate(this.extra, origin);
    runPipeline(this.deps.proxy, this);
  }

  #preflight(cors: Cors | undefined): void {
    const answer = cors?.preflight(this.req.headers) ?? { status: 403, headers: { vary: 'Origin' }, refusal: new SoakpError('origin_not_allowed', 'This soakp server allows no web pages to call it (no --cors-origins and no origin-bound tokens).') };
    if (answer.refusal) return this.fail(answer.refusal, answer.headers);
    this.drain();
    this.res.writeHead(answer.status, { ...this.extra, ...answer.headers, 'content-length': '0' }).end();
  }

  get sink(): ServerResponse {
    return this.res;
  }

  get bytesIn(): number {
    return bodyBytes(this.req);
  }

  closing = (): boolean => this.deps.state.closing;

  gone = (): boolean => this.req.socket.destroyed;

  drain = (): void => {
    if (!this.req.complete) this.req.resume(); // what the upstream no longer reads
  };

  /** Worked out once per request, when the route first asks (for the audit and security events). */
  get client(): Client {
    this.#client ??= this.deps.clientOf(this.req);
    return this.#client;
  }

  onPrincipal = (principal: Principal): void => {
    this.#principal = principal;
    const { cors } = this.deps.proxy;
    if (cors) cors.decorateFor(this.extra, this.req.headers.origin, principal.token);
  };

  bytesOut = (): number => (this.relay?.bytesOut ?? 0) + this.#errorBytes;

  fail = (err: unknown, headers?: Record<string, string>): void => {
    const extra = headers ? { ...this.extra, ...headers } : this.extra;
    this.#errorBytes = answerError(this.deps.logger, this.reqId, this.req, this.res, this.closing() ? { ...extra, connection: 'close' } : extra, err);
  };

  readonly #closed = (): void => {
    this.relay?.clientClosed();
    const { req, res, deps } = this;
    const p = this.#principal;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    deps.access.write({
      reqId: this.reqId, userId: p?.user.id, tokenId: p?.token.id, upstream: p?.upstream.name,
      method: req.method, path: q === -1 ? url : url.slice(0, q), status: res.statusCode, ms: Math.round(performance.now() - this.startedAt),
      bytesIn: bodyBytes(req), bytesOut: this.bytesOut(), upstreamRequestId: this.relay?.upstreamRequestId,
    });
    deps.inFlight?.leave();
    // A connection that falls idle during shutdown would otherwise wait out its keep-alive.
    if (deps.state.closing) deps.answeredWhileClosing?.();
  };
}

/** An error as an answer in OpenAI's envelope (returns its body's bytes); mid-answer, the connection is cut instead. */
function answerError(logger: Logger, reqId: string, req: IncomingMessage, res: ServerResponse, extra: Record<string, string>, error: unknown): number {
  const answer = errorAnswer(error, extra);
  if (answer.status >= 500) logger.error({ reqId, err: error }, 'request failed');
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return 0;
  }
  // A refused request whose body was not read (413, or refused before forwarding) would leave
  // the client writing into a socket nobody reads: answer, then close the connection.
  const headers = !req.complete && !extra.connection ? { ...answer.headers, connection: 'close' } : answer.headers;
  res.writeHead(answer.status, headers).end(answer.text);
  return Number(answer.headers['content-length']);
}
