import { existsSync } from 'node:fs';
import { type Overrides, loadConfig } from './config/load.js';
import type { Config } from './config/schema.js';
import { type Upstream, resolveUpstreams } from './config/upstreams.js';
import { adoptAuditHead } from './policy/audit.js';
import { type Logger, createLogger } from './shared/logger.js';
import { openStore, sqliteFileOf } from './store/open-store.js';
import type { Store } from './store/ports.js';
import { loadFileKey } from './vault/file-key.js';
import { type MasterKeySource, masterKeySource } from './vault/master-key-source.js';
import { Vault } from './vault/vault.js';

/** Everything a command or a server needs, wired once. The composition root of soakp. */
export interface Runtime {
  readonly config: Config;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly keySource: MasterKeySource;
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
  const keySource = masterKeySource({
    env,
    dataDir: config.dataDir,
    onGenerate: (file) =>
      logger.warn({ file }, 'Generated a development master key. For production set SOAKP_MASTER_KEY or SOAKP_MASTER_KEY_FILE, and back this key up: without it the stored keys are lost.'),
  });
  const keyring = keySource.load();
  const dbFile = sqliteFileOf(config);
  // Encryption is chosen when a database is created; afterwards the key file beside it says so.
  const encrypted = dbFile !== undefined && (config.encryptDatabase || existsSync(`${dbFile}.key`));
  const fileKey = encrypted ? loadFileKey(keyring, `${dbFile}.key`, dbFile) : undefined;
  const store = await openStore({ ...config, fileKey });
  try {
    const vault = await Vault.open(store, () => keySource.load());
    if (vault.auditKeyCreated) await adoptAuditHead(store.audit, vault.auditHeadMac);
    return { config, upstreams: resolveUpstreams(config), keySource, store, vault, logger, close: () => store.close() };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** The services' dependencies, flattened from a runtime: what the server, the CLI and the library pass on. */
export function servicesOf(rt: Runtime) {
  const { store, vault, upstreams, logger, config } = rt;
  return {
    store, vault, upstreams, logger, defaultUpstream: config.defaultUpstream, limits: config.limits, timeouts: config.timeouts,
    rateLimits: config.rateLimits, budgets: config.budgets, prices: config.prices,
  };
}
