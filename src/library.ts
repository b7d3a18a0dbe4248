import { Accounts } from './admin/accounts.js';
import { saveKey as saveKeyFlow } from './admin/save-key.js';
import type { Overrides } from './config/load.js';
import { type RunningServer, startServer } from './http/server.js';
import { type Runtime, openRuntime, servicesOf } from './main.js';
import { Authenticator } from './proxy/authenticate.js';
import { Forwarder } from './proxy/forward.js';
import { createLogger } from './shared/logger.js';

export interface SoakpOptions extends Omit<Overrides, 'upstream'> {
  /** The default upstream's base URL (the `--upstream` setting), e.g. `https://nano-gpt.com/api/v1`. */
  upstreamUrl?: string;
  /** Environment to read SOAKP_* settings from (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

/** An open soakp: the vault, the store and the forwarding code, for use inside a program. */
export class Soakp {
  readonly #rt: Runtime;
  readonly #accounts: Accounts;
  readonly #auth: Authenticator;
  readonly #forwarder: Forwarder;

  private constructor(rt: Runtime) {
    this.#rt = rt;
    const deps = servicesOf(rt);
    this.#accounts = new Accounts(deps);
    this.#auth = new Authenticator(deps);
    this.#forwarder = new Forwarder(rt.config.timeouts);
  }

  static async open(options: SoakpOptions = {}): Promise<Soakp> {
    const { env, upstreamUrl, ...rest } = options;
    const flags: Overrides = { ...rest, upstream: upstreamUrl };
    const logger = createLogger(flags.logLevel ?? env?.SOAKP_LOG_LEVEL ?? process.env.SOAKP_LOG_LEVEL ?? 'warn', { fd: 2 });
    return new Soakp(await openRuntime({ flags, env, logger }));
  }

  /** Stores an upstream key; returns a personal token for it (the only time it is shown). */
  async saveKey(key: string, options: { email?: string; upstream?: string } = {}): Promise<string> {
    const { issued } = await saveKeyFlow(this.#accounts, { key, ...options });
    return issued.token.reveal();
  }

  /**
   * Calls `endpoint` (e.g. `chat/completions`) on the token's upstream through the same
   * forwarding code as the server. POSTs `body` as JSON (GET without one); resolves to the
   * upstream's JSON, or rejects with an UpstreamError carrying its status and body.
   */
  async request(token: string, endpoint: string, body?: unknown, options: { method?: string } = {}): Promise<unknown> {
    const principal = await this.#auth.authenticate({ authorization: `Bearer ${token}` });
    const payload = body === undefined ? null : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== null) headers['content-type'] = 'application/json';
    const res = await this.#forwarder.forward({
      upstream: principal.upstream,
      key: principal.key,
      method: options.method ?? (payload === null ? 'GET' : 'POST'),
      pathAndQuery: `/${endpoint.replace(/^\/+/, '').replace(/^v1\//, '')}`,
      headers,
      body: payload,
      signal: new AbortController().signal,
    });
    const text = Buffer.concat(await res.body.toArray()).toString('utf8');
    const parsed: unknown = /json/i.test(String(res.headers['content-type'] ?? '')) && text !== '' ? JSON.parse(text) : text;
    if (res.status >= 400) throw new UpstreamError(res.status, parsed);
    return parsed;
  }

  /** Starts the HTTP proxy over this instance's store; `close()` stops it (not the store). */
  async listen(options: { host?: string; port?: number } = {}): Promise<RunningServer> {
    const rt = this.#rt;
    return startServer(servicesOf(rt), {
      host: options.host ?? rt.config.host,
      port: options.port ?? rt.config.port,
    });
  }

  async close(): Promise<void> {
    this.#auth.close();
    await this.#forwarder.close();
    await this.#rt.close();
  }
}

/** The upstream answered with an error status; `body` is its answer, untouched (parsed if JSON). */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(readonly status: number, readonly body: unknown) {
    super(`The upstream answered ${status}.`);
  }
}
