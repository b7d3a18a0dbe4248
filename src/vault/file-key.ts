import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { openSecret, rewrapSecret, sealSecret } from '../crypto/index.js';
import type { MasterKeyring } from '../crypto/index.js';
import type { SealedSecret } from '../domain/index.js';
import { isSoakpError, SoakpError, writeFileAtomic } from '../shared/index.js';

const CONTEXT = 'sqlite-file-key';

/**
 * The key that encrypts the whole SQLite file. It is random and kept beside the database,
 * sealed by the master key like every other secret (it cannot live inside the file it
 * opens), so rotating the master key re-wraps it and never re-encrypts the database.
 */
export function loadFileKey(keyring: MasterKeyring, keyFile: string, dbFile: string): Buffer {
  if (!existsSync(keyFile)) {
    if (existsSync(dbFile) && statSync(dbFile).size > 0) {
      throw new SoakpError(
        'invalid_config',
        `${dbFile} exists but ${keyFile} does not: either the database is not encrypted (encryption can only be ` +
          'chosen for a new database), or its key file was lost — restore it from the backup of the data directory.',
      );
    }
    mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
    writeSealed(keyFile, sealSecret(keyring, randomBytes(32), CONTEXT));
  }
  try {
    return openSecret(keyring, readSealed(keyFile), CONTEXT);
  } catch (err) {
    if (isSoakpError(err) && err.code === 'decrypt_failed') {
      throw new SoakpError('master_key_mismatch', `The master key does not open ${keyFile}: it is not the key this database was created with.`);
    }
    throw err;
  }
}

/** Re-wraps the file key under the newest master-key version (atomic replace). */
export function rewrapFileKey(keyring: MasterKeyring, keyFile: string): boolean {
  if (!existsSync(keyFile)) return false;
  const sealed = readSealed(keyFile);
  if (sealed.masterVersion === keyring.current) return false;
  writeSealed(keyFile, rewrapSecret(keyring, sealed, CONTEXT));
  return true;
}

function readSealed(file: string): SealedSecret {
  try {
    const j = JSON.parse(readFileSync(file, 'utf8')) as { v: number; k: string; c: string };
    return { masterVersion: j.v, wrappedKey: Buffer.from(j.k, 'base64'), ciphertext: Buffer.from(j.c, 'base64') };
  } catch (cause) {
    throw new SoakpError('store_corrupt', `The database key file ${file} is unreadable or corrupt.`, { cause });
  }
}

function writeSealed(file: string, s: SealedSecret): void {
  writeFileAtomic(file, JSON.stringify({ v: s.masterVersion, k: s.wrappedKey.toString('base64'), c: s.ciphertext.toString('base64') }));
}
