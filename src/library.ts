import { saveKey as saveKeyFlow } from './admin/index.js';
import type { Overrides } from './config/index.js';
import { type RunningServer, startServer } from './http/index.js';
import { type ServingServices, openRuntime, servingServices } from './main.js';
import { collect, upstreamPathOf } from './proxy/index.js';
import { createLogger } from './shared/index.js';

export interface SoakpOptions extends Omit<Overrides, 'upstream'> {
  /** The default upstream's base URL (the `--upstream` setting), e.g. `https://nano-gpt.com/api/v1`. */
  upstreamUrl?: string;
  /** Environment to read SOAKP_* settings from (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

/** An open soakp: the vault, the store and the forwarding code, for use inside a program. */
export class Soakp {
  readonly #services: ServingServices;
  #closing: Promise<void> | undefined;

  private constructor(services: ServingServices) {
    this.#services = services;
  }

  static async open(options: SoakpOptions = {}): Promise<Soakp> {
    const { env, upstreamUrl, ...rest } = options;
    const flags: Overrides = { ...rest, upstream: upstreamUrl };
    const logger = createLogger(flags.logLevel ?? env?.SOAKP_LOG_LEVEL ?? process.env.SOAKP_LOG_LEVEL ?? 'warn', { fd: 2 });
    const rt = await openRuntime({ flags, env, logger });
    try {
      return new Soakp(await servingServices(rt));
    } catch (err) {
      await rt.close();
      throw err;
    }
  }

  /** Stores an upstream key; returns a personal token for it (the only time it is shown). */
  async saveKey(key: string, options: { email?: string; upstream?: string } = {}): Promise<string> {
    const { issued } = await saveKeyFlow(this.#services.accounts('library', 'library'), { key, ...options });
    return issued.token.reveal();
  }

  /**
   * Calls `endpoint` (e.g. `chat/completions`) on the token's upstream through the same
   * forwarding code as the server. POSTs `body` as JSON (GET without one); resolves to the
   * upstream's JSON, or rejects with an UpstreamError carrying its status and body.
   */
  async request(token: string, endpoint: string, body?: unknown, options: { method?: string } = {}): Promise<unknown> {
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${token}` };
    if (payload !== null) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(payload.length) });
    // The same pipeline as an HTTP request: scopes, limits, budgets and the usage ledger apply.
    const res = await collect(this.#services.pipeline, {
      method: options.method?.toUpperCase() ?? (payload === null ? 'GET' : 'POST'),
      pathAndQuery: upstreamPathOf(`/v1/${endpoint.replace(/^\/+/, '').replace(/^v1\//, '')}`),
      headers,
      body: payload,
      source: 'library',
    });
    const text = res.body.toString('utf8');
    const parsed: unknown = /json/i.test(res.headers['content-type'] ?? '') && text !== '' ? JSON.parse(text) : text;
    if (res.status >= 400) throw new UpstreamError(res.status, parsed);
    return parsed;
  }

  /** Starts the HTTP proxy over this instance's services; `close()` stops it (not the services). */
  async listen(options: { host?: string; port?: number; httpPort?: number } = {}): Promise<RunningServer> {
    const { config } = this.#services;
    return startServer(this.#services, { host: options.host ?? config.host, port: options.port ?? config.port, httpPort: options.httpPort ?? config.httpPort });
  }

  /** Flushes the usage ledger and the audit log, then closes the store. Stop servers from `listen` first. */
  close(): Promise<void> {
    this.#closing ??= this.#services.close().then(() => this.#services.rt.close());
    return this.#closing;
  }
}

/** The upstream answered with an error status; `body` is its answer, untouched (parsed if JSON). */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(readonly status: number, readonly body: unknown) {
    super(`The upstream answered ${status}.`);
  }
}
