import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Agent as AgentType, Dispatcher } from 'undici';
import { Agent, errors, request } from './undici-core.js';
import type { Upstream } from '../config/upstreams.js';
import { SoakpError, isSoakpError } from '../shared/errors.js';
import type { Secret } from '../shared/secret.js';
import { upstreamRequestHeaders } from './headers.js';

export interface ForwardRequest {
  upstream: Upstream;
  key: Secret<string>;
  method: string;
  /** The part after `/v1`, with its query string, e.g. `/chat/completions?x=1`. */
  pathAndQuery: string;
  headers: IncomingHttpHeaders;
  body: Readable | Buffer | string | null;
  signal: AbortSignal;
}

export interface ForwardResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/** Milliseconds; the `timeouts` settings. */
export interface ForwarderOptions {
  connect: number;
  firstByte: number;
  idle: number;
}

export const DEFAULT_FORWARDER_OPTIONS: ForwarderOptions = {
  connect: 10_000,
  // Generous: a reasoning model can think for minutes before its first byte.
  firstByte: 600_000,
  idle: 600_000,
};

/**
 * Sends one request to an upstream and hands back its answer as a stream. One undici Agent
 * pools keep-alive connections per upstream origin. Redirects are never followed: the key
 * must reach only the host the operator configured (undici follows none unless told to).
 */
export class Forwarder {
  readonly #agent: AgentType;
  /** Each upstream's origin and base path, parsed once rather than per request. */
  readonly #bases = new WeakMap<Upstream, { origin: string; prefix: string }>();

  constructor(options: ForwarderOptions = DEFAULT_FORWARDER_OPTIONS) {
    this.#agent = new Agent({
      connectTimeout: options.connect,
      headersTimeout: options.firstByte,
      bodyTimeout: options.idle,
      keepAliveTimeout: 30_000,
    });
  }

  async forward(req: ForwardRequest): Promise<ForwardResponse> {
    try {
      const res = await request(this.#agent, { ...this.#options(req), signal: req.signal });
      return { status: res.statusCode, headers: res.headers, body: res.body };
    } catch (err) {
      throw upstreamError(err, req.upstream.name);
    }
  }

  /** The HTTP route's way: the answer goes to `handler` as it arrives, with no stream between. */
  dispatch(req: Omit<ForwardRequest, 'signal'>, handler: Dispatcher.DispatchHandler): void {
    this.#agent.dispatch(this.#options(req), handler);
  }

  #options(req: Omit<ForwardRequest, 'signal'>): Dispatcher.DispatchOptions {
    let base = this.#bases.get(req.upstream);
    if (!base) {
      const url = new URL(req.upstream.baseUrl);
      base = { origin: url.origin, prefix: url.pathname.replace(/\/$/, '') };
      this.#bases.set(req.upstream, base);
    }
    return {
      origin: base.origin,
      path: base.prefix + req.pathAndQuery,
      method: req.method as 'GET',
      headers: upstreamRequestHeaders(req.headers, req.upstream, req.key),
      body: req.body,
    };
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

/** 504 for timeouts, 499 when our client left, 502 for anything else that kept us from the upstream. */
export function upstreamError(err: unknown, upstream: string): SoakpError {
  if (isSoakpError(err)) return err; // e.g. the request body went over the size limit
  if (err instanceof errors.ConnectTimeoutError || err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
    return new SoakpError('upstream_timeout', `The upstream "${upstream}" did not answer in time.`, { cause: err });
  }
  if ((err as Error | null)?.name === 'AbortError' || err instanceof errors.RequestAbortedError) {
    return new SoakpError('client_closed', 'The client closed the request.', { cause: err });
  }
  return new SoakpError('upstream_unreachable', `The upstream "${upstream}" could not be reached.`, { cause: err });
}
