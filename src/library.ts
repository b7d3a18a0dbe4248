import { Accounts, saveKey as saveKeyFlow } from './admin/index.js';
import type { Overrides } from './config/index.js';
import { type RunningServer, startServer } from './http/index.js';
import { type Runtime, openRuntime, servicesOf } from './main.js';
import { type Policies, createPolicies } from './policy/index.js';
import { Authenticator, collect, Forwarder, type Inspection, inspectionOf, type PipelineDeps, upstreamPathOf } from './proxy/index.js';
import { createLogger } from './shared/index.js';

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
  #policies: Policies | undefined;
  #inspection: Inspection | undefined;

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
    const { issued } = await saveKeyFlow(this.#audited(), { key, ...options });
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
    const res = await collect(this.#pipelineDeps(), {
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

  /** Starts the HTTP proxy over this instance's store; `close()` stops it (not the store). */
  async listen(options: { host?: string; port?: number } = {}): Promise<RunningServer> {
    const rt = this.#rt;
    return startServer(servicesOf(rt), {
      host: options.host ?? rt.config.host,
      port: options.port ?? rt.config.port,
    });
  }

  #policiesNow(): Policies {
    this.#policies ??= createPolicies(this.#rt.store, this.#rt.config, this.#rt.logger, this.#rt.vault.nextAuditHeadMac);
    return this.#policies;
  }

  /** Accounts whose changes are audited as made by this program (actor `library`). */
  #audited(): Accounts {
    return new Accounts({ ...this.#accounts.deps, auditor: this.#policiesNow().auditor, actor: 'library', source: 'library' });
  }

  #pipelineDeps(): PipelineDeps {
    return { auth: this.#auth, forwarder: this.#forwarder, policies: this.#policiesNow().engine, inspection: (this.#inspection ??= inspectionOf(this.#rt.config)), connectTimeout: this.#rt.config.timeouts.connect };
  }

  async close(): Promise<void> {
    await this.#policies?.close(); // flushes the usage ledger and the audit log
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
