import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher, Pool as PoolType } from 'undici';
import { Pool, errors } from './undici-core.js';
import type { Upstream } from '../config/index.js';
import { SoakpError, isSoakpError } from '../shared/index.js';
import type { Secret } from '../shared/index.js';
import { upstreamRequestHeaders } from './headers.js';

export interface ForwardRequest {
  upstream: Upstream;
  key: Secret<string>;
  method: string;
  /** The part after `/v1`, with its query string, e.g. `/chat/completions?x=1`. */
  pathAndQuery: string;
  headers: IncomingHttpHeaders;
  body: Readable | Buffer | string | null;
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
 * Sends requests to the upstreams, each answer to its relay as it arrives. An undici Pool per
 * upstream origin keeps its keep-alive connections. Redirects are never followed: the key
 * must reach only the host the operator configured (undici follows none unless told to).
 */
export class Forwarder {
  readonly #options: ForwarderOptions;
  /** One connection pool per upstream origin. */
  readonly #pools = new Map<string, PoolType>();
  /** Each upstream's pool and base path, worked out once rather than per request. */
  readonly #bases = new WeakMap<Upstream, { origin: string; pool: PoolType; prefix: string }>();
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: ForwarderOptions = DEFAULT_FORWARDER_OPTIONS) {
    this.#options = options;
  }

  /** The answer goes to `handler` (the relay) as it arrives, with no stream between. */
  dispatch(req: ForwardRequest, handler: Dispatcher.DispatchHandler): void {
    const { pool, options } = this.#prepare(req);
    pool.dispatch(options, handler);
  }

  #prepare(req: ForwardRequest): { pool: PoolType; options: Dispatcher.DispatchOptions } {
    let base = this.#bases.get(req.upstream);
    if (!base) {
      const url = new URL(req.upstream.baseUrl);
      base = { origin: url.origin, pool: this.#pool(url.origin), prefix: url.pathname.replace(/\/$/, '') };
      this.#bases.set(req.upstream, base);
    }
    const options: Dispatcher.DispatchOptions = {
      origin: base.origin,
      path: base.prefix + req.pathAndQuery,
      method: req.method as 'GET',
      headers: upstreamRequestHeaders(req.headers, req.upstream, req.key),
      body: req.body,
    };
    return { pool: base.pool, options };
  }

  #pool(origin: string): PoolType {
    let pool = this.#pools.get(origin);
    if (!pool) {
      // Closed: a new pool would outlive the forwarder; its dispatch fails as the agent's did.
      pool = new Pool(origin, {
        connectTimeout: this.#options.connect,
        headersTimeout: this.#options.firstByte,
        bodyTimeout: this.#options.idle,
        keepAliveTimeout: 30_000,
      });
      if (this.#closed) void pool.close();
      this.#pools.set(origin, pool);
    }
    return pool;
  }

  close(): Promise<void> {
    this.#closed = true;
    return (this.#closing ??= Promise.all([...this.#pools.values()].map((p) => p.close())).then(() => undefined));
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
