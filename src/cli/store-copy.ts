import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { adoptAuditHead } from '../audit/index.js';
import { loadConfig, type Overrides } from '../config/index.js';
import { type Logger, SoakpError, isSoakpError } from '../shared/index.js';
import { AUDIT_HEAD_MAC_MIGRATION, type CopyCounts, copyStore, isMemoryUrl, isPostgresUrl, openStore, sqliteFileOf, type Store } from '../store/index.js';
import { auditHeadSigner, checkKeyring, loadFileKey, type MasterKeySource, masterKeySource } from '../vault/index.js';
import { maskUrlPassword } from './misc.js';

type Keyring = ReturnType<MasterKeySource['load']>;

export interface CopyRequest {
  from: string;
  to: string;
  replace: boolean;
  /** --encrypt-database: encrypt a new SQLite destination. */
  encrypt: boolean;
  overrides: Pick<Overrides, 'config' | 'dataDir'>;
  env: NodeJS.ProcessEnv;
  logger: Logger;
}

export interface CopyReport {
  from: string;
  to: string;
  tables: CopyCounts;
  /** The destination is an encrypted SQLite file. */
  encrypted: boolean;
}

/** One end of a copy: its URL, its SQLite file (none for PostgreSQL), and how messages show it. */
interface End {
  url: string;
  file: string | undefined;
  shown: string;
}

/** `soakp store copy`: opens both ends as soakp opens them, proves the master key, copies. */
export async function copyDatabase(req: CopyRequest): Promise<CopyReport> {
  const { config } = loadConfig(req.overrides, req.env);
  const from = endOf(req.from, config.dataDir, '--from');
  const to = endOf(req.to, config.dataDir, '--to');
  if (from.file !== undefined ? from.file === to.file : from.url === to.url) throw new SoakpError('invalid_request', `--from and --to are the same database (${to.shown}).`);
  if (from.file !== undefined && !existsSync(from.file)) throw new SoakpError('not_found', `There is no database file ${from.shown} to copy from.`);
  if (req.encrypt && to.file === undefined) {
    throw new SoakpError('invalid_config', '--encrypt-database is for a SQLite destination; PostgreSQL relies on the vault\'s per-record encryption and TLS to the database (sslmode=verify-full).');
  }
  // Never a new key: the data is sealed under an existing one, which the copy must be given.
  const keyring = masterKeySource({ env: req.env, dataDir: config.dataDir, holdsSealedData: () => true }).load();
  const sourceKey = from.file !== undefined && existsSync(`${from.file}.key`) ? loadFileKey(keyring, `${from.file}.key`, from.file) : undefined;
  const source = await openEnd(from, sourceKey, keyring, req.logger, (s) => proveSource(s, keyring, from));
  try {
    const encrypted = to.file !== undefined && (req.encrypt || sourceKey !== undefined || existsSync(`${to.file}.key`));
    const dest = await openEnd(to, encrypted ? destinationKey(keyring, to) : undefined, keyring, req.logger);
    try {
      const tables = await copyStore(source, dest, { replace: req.replace });
      return { from: from.shown, to: to.shown, tables, encrypted };
    } finally {
      await dest.close();
    }
  } finally {
    await source.close();
  }
}

function endOf(url: string, dataDir: string, flag: string): End {
  if (url.trim() === '') throw new SoakpError('invalid_request', `${flag} needs a SQLite file or a postgres:// URL.`);
  if (isMemoryUrl(url)) throw new SoakpError('invalid_request', `${flag} memory: is not a database that outlives this command; give a SQLite file or a postgres:// URL.`);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined && !['postgres', 'postgresql', 'sqlite'].includes(scheme) && !/^[a-z]:[\\/]/i.test(url)) {
    throw new SoakpError('invalid_request', `${flag} ${maskUrlPassword(url)}: "${scheme}:" is not a store soakp has; give a SQLite file (a path or sqlite:PATH) or a postgres:// URL.`);
  }
  const file = sqliteFileOf({ dataDir, databaseUrl: url });
  return isPostgresUrl(url) || file === undefined ? { url, file: undefined, shown: maskUrlPassword(url) } : { url, file: resolve(file), shown: file };
}

/**
 * Opens an end as every command does (migrating it), and signs a head that this open's
 * migration introduced, as the first open of a database does: a destination left empty by
 * a failed copy must serve later like any new one.
 */
async function openEnd(end: End, fileKey: Buffer | undefined, keyring: Keyring, logger: Logger, prove?: (s: Store) => Promise<void>): Promise<Store> {
  const store = await openStore({ dataDir: '.', databaseUrl: end.file ?? end.url, fileKey, logger });
  try {
    await prove?.(store);
    await adoptAuditHead(store.audit, auditHeadSigner(keyring), store.migrated?.includes(AUDIT_HEAD_MAC_MIGRATION) ?? false);
    return store;
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** The source holds soakp data, sealed under this master key (its check values), or nothing is copied. */
async function proveSource(source: Store, keyring: Keyring, from: End): Promise<void> {
  let known: unknown[];
  try {
    known = await checkKeyring(source, keyring);
  } catch (err) {
    if (!isSoakpError(err) || (err.code !== 'master_key_mismatch' && err.code !== 'master_key_missing')) throw err;
    const reason = err.message.replace(/ Start soakp.*$/, '');
    throw new SoakpError(err.code, `Cannot copy from ${from.shown}: ${reason} store copy needs the master key the source was written with ` +
      '(SOAKP_MASTER_KEY, SOAKP_MASTER_KEY_FILE or <data-dir>/master.key); nothing was copied.');
  }
  if (known.length === 0) throw new SoakpError('not_found', `${from.shown} holds no soakp data (no master key was ever used with it); nothing was copied.`);
}

// Encryption is chosen when a database is created: an existing plain file cannot become one.
function destinationKey(keyring: Keyring, to: End): Buffer {
  const file = to.file as string;
  if (existsSync(file) && statSync(file).size > 0 && !existsSync(`${file}.key`)) {
    throw new SoakpError('invalid_config', `${file} exists and is not encrypted, but the copy is to be encrypted (--encrypt-database, or an encrypted source); copy to a new file.`);
  }
  return loadFileKey(keyring, `${file}.key`, file);
}
