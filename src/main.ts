import { existsSync, statSync } from 'node:fs';
import { loadConfig, type Overrides, resolveUpstreams, type Upstream } from './config/index.js';
import type { Config } from './config/index.js';
import { Accounts } from './admin/index.js';
import { AuditLog, adoptAuditHead } from './audit/index.js';
import type { Policies } from './policy/index.js';
import type { Authenticator, Forwarder, Inspection, PipelineDeps } from './proxy/index.js';
import { type Logger, createLogger } from './shared/index.js';
import { AUDIT_HEAD_MAC_MIGRATION, isMemoryUrl, openStore, sqliteFileOf } from './store/index.js';
import type { Store } from './store/index.js';
import type { TlsServing } from './tls/index.js';
import { loadFileKey, type MasterKeySource, masterKeySource, Vault } from './vault/index.js';

/** What every command and server opens first: settings, the store and the vault. */
export interface Runtime {
  readonly config: Config;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly keySource: MasterKeySource;
  /** The environment the settings were read from (DNS providers' credentials live there too). */
  readonly env: NodeJS.ProcessEnv;
  readonly store: Store;
  readonly vault: Vault;
  readonly logger: Logger;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  flags?: Overrides;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export async function openRuntime(options: RuntimeOptions = {}): Promise<Runtime> {
  const env = options.env ?? process.env;
  const { config } = loadConfig(options.flags ?? {}, env);
  const logger = options.logger ?? createLogger(config.logLevel);
  warnIfShared(config.dataDir, logger);
  const dbFile = sqliteFileOf(config);
  // A database key file, or master-key check values in the store, mean data sealed by a master
  // key exists: a lost generated master.key is then reported, never silently replaced.
  let sealedData = dbFile !== undefined && existsSync(`${dbFile}.key`);
  const keySource = masterKeySource({
    env,
    dataDir: config.dataDir,
    holdsSealedData: () => sealedData,
    onGenerate: (file) =>
      logger.warn({ file }, 'Generated a development master key. For production set SOAKP_MASTER_KEY or SOAKP_MASTER_KEY_FILE, and back this key up: without it the stored keys are lost.'),
  });
  // The key is read before the database is touched, so a bad one changes nothing; only a
  // master.key still to be generated waits for the store to say whether it may be.
  const keyring = keySource.kind === 'generated' && !existsSync(keySource.file ?? '') ? undefined : keySource.load();
  // Encryption is chosen when a database is created; afterwards the key file beside it says so.
  const encrypted = dbFile !== undefined && (config.encryptDatabase || existsSync(`${dbFile}.key`));
  const fileKey = encrypted ? loadFileKey(keyring ?? keySource.load(), `${dbFile}.key`, dbFile) : undefined;
  if (isMemoryUrl(config.databaseUrl)) logger.warn('The store is in memory (--database-url memory:): every user, key, token and usage record is lost when this process exits.');
  const store = await openStore({ ...config, fileKey, logger });
  try {
    sealedData ||= (await store.masterKeys.list()).length > 0;
    const vault = await Vault.open(store, () => keySource.load());
    await adoptAuditHead(store.audit, { mac: vault.auditHeadMac, next: vault.nextAuditHeadMac }, store.migrated?.includes(AUDIT_HEAD_MAC_MIGRATION) ?? false);
    return { config, upstreams: resolveUpstreams(config), keySource, env, store, vault, logger, close: () => store.close() };
  } catch (err) {
    await store.close();
    throw err;
  }
}

// The data directory holds the database and perhaps master.key: soakp creates it owner-only,
// and says so when an existing one lets others in (left as it is: the operator may mean it).
function warnIfShared(dataDir: string, logger: Logger): void {
  if (process.platform === 'win32' || !existsSync(dataDir)) return;
  const mode = statSync(dataDir).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  logger.warn({ dataDir, mode: mode.toString(8).padStart(4, '0') }, `The data directory can be read by other users; make it owner-only with \`chmod 700 ${dataDir}\`.`);
}

/** The services' dependencies, flattened from a runtime: what the server, the CLI and the library pass on. */
export function servicesOf(rt: Runtime) {
  const { store, vault, upstreams, logger, config } = rt;
  return {
    store, vault, upstreams, logger, defaultUpstream: config.defaultUpstream, limits: config.limits, timeouts: config.timeouts,
    rateLimits: config.rateLimits, budgets: config.budgets, prices: config.prices, trustProxy: config.trustProxy,
    openwebui: config.openwebui,
  };
}

/**
 * soakp's composition root: every service, built once, from one runtime. The server, the
 * library and the CLI all take their services from here, and nothing else constructs them;
 * each Services is its own world (two in one process share no state but immutable tables).
 * A command that never serves (the CLI) asks for the control plane only: then no upstream
 * pool, limiter or Redis connection is built, and the data plane's modules are not loaded.
 */
export interface Services {
  readonly rt: Runtime;
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  /** The audit log's writer. */
  readonly auditor: AuditLog;
  /** Users, keys and tokens, audited as `actor` from `source`. */
  accounts(actor: string, source: string | null): Accounts;
  /** Closes what was built, in order: the ledger and the audit log flush first. Not the runtime. */
  close(): Promise<void>;
}

/** The data plane's services too: what a server or the library's `request` needs. */
export interface ServingServices extends Services {
  readonly auth: Authenticator;
  readonly forwarder: Forwarder;
  readonly policies: Policies;
  readonly inspection: Inspection;
  /** What the one request pipeline takes. */
  readonly pipeline: PipelineDeps;
  /** HTTPS on the server's port, when the settings ask for it. */
  readonly tls: TlsServing | undefined;
}

export function controlServices(rt: Runtime): Services {
  const auditor = new AuditLog(rt.store.audit, rt.vault.nextAuditHeadMac, rt.logger);
  return {
    rt, config: rt.config, logger: rt.logger, store: rt.store, auditor,
    accounts: (actor, source) => new Accounts({ ...servicesOf(rt), auditor, actor, source }),
    close: () => auditor.close(),
  };
}

export async function servingServices(rt: Runtime): Promise<ServingServices> {
  // Loaded here: the CLI's commands need neither undici nor the limiter.
  const [{ Authenticator, Cors, Forwarder, inspectionOf }, { createPolicies }] = await Promise.all([import('./proxy/index.js'), import('./policy/index.js')]);
  const { config } = rt;
  // First: a certificate that cannot serve stops the start before anything is built.
  const tls = await openTls(rt);
  const control = controlServices(rt);
  const auth = new Authenticator(servicesOf(rt));
  const forwarder = new Forwarder(config.timeouts);
  const policies = createPolicies(rt.store, config, rt.logger, control.auditor);
  const inspection = inspectionOf(config);
  const cors = new Cors(config.cors, rt.store, rt.logger);
  await cors.start();
  const sweeper = sweepEphemeral(rt.store, rt.logger);
  return {
    ...control, auth, forwarder, policies, inspection, tls,
    pipeline: { auth, forwarder, policies: policies.engine, inspection, connectTimeout: config.timeouts.connect, cors },
    close: async () => {
      clearInterval(sweeper);
      cors.close();
      tls?.source.close();
      await policies.close(); // after the last request: the ledger is flushed, nothing is lost
      await control.close();
      auth.close();
      await forwarder.close();
    },
  };
}

/** How long an expired ephemeral token's row is kept (its use is refused as expired, not unknown), and how often they are swept. */
const EPHEMERAL_KEPT_MS = 3_600_000;
const SWEEP_EVERY_MS = 600_000;

/** Deletes ephemeral tokens an hour after they expired: a web app mints one per page, and they would pile up. */
function sweepEphemeral(store: Store, logger: Logger): NodeJS.Timeout {
  const timer = setInterval(() => {
    store.tokens.deleteExpired('ephemeral', Date.now() - EPHEMERAL_KEPT_MS).catch((err: unknown) => logger.warn({ err }, 'could not sweep expired ephemeral tokens'));
  }, SWEEP_EVERY_MS);
  timer.unref();
  return timer;
}

/** The certificate source the settings name, and how the listener serves it; undefined for plain HTTP. */
async function openTls(rt: Runtime): Promise<TlsServing | undefined> {
  const { tlsEnabled, openCertificateSource, tlsServing } = await import('./tls/index.js');
  if (!tlsEnabled(rt.config.tls)) return undefined;
  const source = await openCertificateSource(rt.config.tls, { logger: rt.logger, store: rt.store, vault: rt.vault, dataDir: rt.config.dataDir, env: rt.env });
  return source && tlsServing(rt.config.tls, source);
}
