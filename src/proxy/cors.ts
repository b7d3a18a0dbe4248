import type { IncomingHttpHeaders } from 'node:http';
import { type TokenRecord, browserOptions } from '../domain/index.js';
import { type Logger, type OriginPattern, SoakpError, originMatcher, originMatches, parseOrigin } from '../shared/index.js';
import type { Store } from '../store/index.js';

export interface CorsSettings {
  /** Origins allowed for every token (`cors.origins`), in canonical form. */
  readonly origins: readonly string[];
  /** How long a browser may reuse a preflight's answer, in ms. */
  readonly maxAge: number;
}

/** soakp's methods for a browser: those the data plane forwards (OPTIONS itself is the preflight). */
const METHODS = 'GET, POST, PUT, PATCH, DELETE, HEAD';
/** Request headers a page may send: the credential carriers, JSON, and the OpenAI SDK's own. */
const ALLOWED_HEADER = /^(authorization|content-type|accept|accept-language|idempotency-key|api-key|x-api-key|x-request-id|openai-[a-z0-9-]+|x-stainless-[a-z0-9-]+)$/;
/** Answer headers a page may read: ids, limits and timings a client paces itself by. */
const EXPOSED = [
  'x-request-id', 'retry-after', 'server-timing', 'openai-processing-ms', 'openai-version', 'openai-organization', 'openai-project', 'openai-model',
  'x-ratelimit-limit-requests', 'x-ratelimit-limit-tokens', 'x-ratelimit-remaining-requests', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens',
].join(', ');

/** Token records' own origins, compiled once per record (the authenticator hands out new records after a change). */
const matchers = new WeakMap<TokenRecord, (origin: string) => boolean>();

/** A preflight's answer, written by the entry. */
export interface PreflightAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** The refusal to answer with instead (its envelope), when the origin is not allowed. */
  readonly refusal?: SoakpError;
}

/**
 * CORS for the data plane. An origin is allowed when the operator's list names it or an active
 * origin-bound token does: a preflight carries no token, so the tokens' origins are kept in
 * memory, reloaded on every change to tokens. Allowed origins get their own origin back,
 * never `*`, and no Access-Control-Allow-Credentials: soakp uses no cookies.
 */
export class Cors {
  readonly #global: (origin: string) => boolean;
  readonly #hasGlobal: boolean;
  readonly #maxAge: string;
  /** Token origins: exact ones and patterns, each with the latest expiry among its tokens (Infinity: none). */
  #exact = new Map<string, number>();
  #patterns: Array<[OriginPattern, number]> = [];
  #loading: Promise<void> | undefined;
  #again = false;
  readonly #unsubscribe: () => void;

  constructor(settings: CorsSettings, private readonly store: Pick<Store, 'tokens' | 'onChange'>, private readonly logger: Logger) {
    const patterns = settings.origins.map(parseOrigin).filter((p): p is OriginPattern => typeof p !== 'string');
    this.#global = originMatcher(patterns);
    this.#hasGlobal = patterns.length > 0;
    this.#maxAge = String(Math.round(settings.maxAge / 1000));
    this.#unsubscribe = store.onChange(() => void this.#reload());
  }

  /** Loads the tokens' origins: resolves once a first preflight can be answered from them. */
  start(): Promise<void> {
    return this.#reload();
  }

  close(): void {
    this.#unsubscribe();
  }

  /** Whether any origin may call at all: answers then say that they vary by Origin. */
  get active(): boolean {
    return this.#hasGlobal || this.#exact.size > 0 || this.#patterns.length > 0;
  }

  allows(origin: string): boolean {
    if (this.#global(origin)) return true;
    const now = Date.now();
    if ((this.#exact.get(origin) ?? 0) > now) return true;
    for (const [p, until] of this.#patterns) if (until > now && originMatches(p, origin)) return true;
    return false;
  }

  /** The answer to `OPTIONS` with Origin and Access-Control-Request-Method: never forwarded, never needing a token. */
  preflight(headers: IncomingHttpHeaders): PreflightAnswer {
    const origin = String(headers.origin);
    if (!this.allows(origin)) {
      return { status: 403, headers: { vary: 'Origin' }, refusal: new SoakpError('origin_not_allowed', `Web pages from ${JSON.stringify(origin.slice(0, 200))} may not call this soakp server. The operator allows origins with --cors-origins, or by issuing origin-bound tokens (soakp token issue … --origins).`) };
    }
    const asked = String(headers['access-control-request-headers'] ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => ALLOWED_HEADER.test(h));
    const out: Record<string, string> = {
      'access-control-allow-origin': origin,
      'access-control-allow-methods': METHODS,
      'access-control-allow-headers': asked.length > 0 ? asked.join(', ') : 'authorization, content-type',
      'access-control-max-age': this.#maxAge,
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    };
    // Chromium's Private Network Access: a public page calling soakp on a private address asks first.
    if (headers['access-control-request-private-network'] === 'true') out['access-control-allow-private-network'] = 'true';
    return { status: 204, headers: out };
  }

  /** Adds what an answer to `origin` carries (any answer: the upstream's, or an error a page must be able to read). */
  decorate(extra: Record<string, string>, origin: string | undefined): void {
    extra.vary = 'Origin';
    if (origin === undefined || !this.allows(origin)) return;
    extra['access-control-allow-origin'] = origin;
    extra['access-control-expose-headers'] = EXPOSED;
  }

  /**
   * After authentication: the caller's own token names the origin, though the in-memory list
   * does not have it yet (a token issued by another process this very second).
   */
  decorateFor(extra: Record<string, string>, origin: string | undefined, token: TokenRecord): void {
    if (origin === undefined || extra['access-control-allow-origin'] !== undefined) return;
    const origins = browserOptions(token).origins;
    if (!origins || origins.length === 0) return;
    let match = matchers.get(token);
    if (!match) matchers.set(token, (match = originMatcher(origins.map(parseOrigin).filter((p): p is OriginPattern => typeof p !== 'string'))));
    if (!match(origin)) return;
    extra['access-control-allow-origin'] = origin;
    extra['access-control-expose-headers'] = EXPOSED;
  }

  /** One load at a time; a change during a load loads again after it, so the last change is always seen. */
  #reload(): Promise<void> {
    if (this.#loading) {
      this.#again = true;
      return this.#loading;
    }
    const run = async (): Promise<void> => {
      do {
        this.#again = false;
        try {
          this.#apply(await this.store.tokens.originBound(Date.now()));
        } catch (err) {
          this.logger.error({ err }, 'could not load the origins of origin-bound tokens; CORS keeps the last ones');
        }
      } while (this.#again);
      this.#loading = undefined;
    };
    this.#loading = run();
    return this.#loading;
  }

  #apply(tokens: Awaited<ReturnType<Store['tokens']['originBound']>>): void {
    const exact = new Map<string, number>();
    const wild = new Map<string, [OriginPattern, number]>();
    for (const t of tokens) {
      const until = t.expiresAt ?? Infinity;
      for (const text of browserOptions(t).origins ?? []) {
        const p = parseOrigin(text);
        if (typeof p === 'string') continue; // checked when issued; a bad row allows nothing
        if (!p.wildcard) exact.set(p.text, Math.max(until, exact.get(p.text) ?? 0));
        else wild.set(p.text, [p, Math.max(until, wild.get(p.text)?.[1] ?? 0)]);
      }
    }
    this.#exact = exact;
    this.#patterns = [...wild.values()];
  }
}
