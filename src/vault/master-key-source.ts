import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MasterKeyring } from '../crypto/index.js';
import { SoakpError, writeFileAtomic } from '../shared/index.js';

export type KeySourceKind = 'env' | 'file' | 'generated';

/** Where the master keyring came from, and whether soakp may add versions to it. */
export interface MasterKeySource {
  readonly kind: KeySourceKind;
  readonly file?: string;
  load(): MasterKeyring;
}

export interface KeySourceInput {
  env: NodeJS.ProcessEnv;
  dataDir: string;
  /** Called once when a development key is generated, so the caller can warn. */
  onGenerate?: (file: string) => void;
  /**
   * Asked before a missing `<dataDir>/master.key` is generated: true when the store already
   * holds data sealed by a master key, which a new key could never open.
   */
  holdsSealedData?: () => boolean;
}

/** SOAKP_MASTER_KEY, else SOAKP_MASTER_KEY_FILE, else `<dataDir>/master.key` (generated once). */
export function masterKeySource(input: KeySourceInput): MasterKeySource {
  const inline = input.env.SOAKP_MASTER_KEY;
  if (inline !== undefined && inline.trim() !== '') {
    return { kind: 'env', load: () => parseKeyring(inline, 'SOAKP_MASTER_KEY') };
  }
  const file = input.env.SOAKP_MASTER_KEY_FILE;
  if (file !== undefined && file.trim() !== '') {
    return { kind: 'file', file, load: () => parseKeyring(readKeyFile(file), file) };
  }
  const generated = join(input.dataDir, 'master.key');
  return {
    kind: 'generated',
    file: generated,
    load: () => {
      if (!existsSync(generated)) {
        if (input.holdsSealedData?.()) {
          throw new SoakpError(
            'master_key_missing',
            `${generated} is missing, but the database holds data sealed by a master key: a new key could not open it. ` +
              `Restore ${generated} from your backup (or set SOAKP_MASTER_KEY / SOAKP_MASTER_KEY_FILE to the original key); nothing was changed.`,
          );
        }
        generateKeyFile(generated, input.onGenerate);
      }
      return parseKeyring(readKeyFile(generated), generated);
    },
  };
}

/**
 * `KEY` (version 1), or versioned entries `1:KEY,2:KEY` (commas or new lines). A key is
 * 32 bytes as base64 or hex. Errors name the source, never the text.
 */
export function parseKeyring(text: string, source: string): MasterKeyring {
  const entries = text.split(/[,\n]/).map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('#'));
  if (entries.length === 0) throw new SoakpError('master_key_missing', `${source} holds no master key.`);
  const keys = new Map<number, Buffer>();
  for (const entry of entries) {
    const m = /^(\d+):(.*)$/.exec(entry);
    const version = m ? Number(m[1]) : entries.length === 1 ? 1 : NaN;
    if (!Number.isInteger(version) || version < 1) {
      throw new SoakpError('invalid_config', `${source}: with several keys, write each as VERSION:KEY (e.g. 1:…,2:…).`);
    }
    if (keys.has(version)) throw new SoakpError('invalid_config', `${source}: master-key version ${version} appears twice.`);
    keys.set(version, decodeKey(m ? (m[2] as string) : entry, source, version));
  }
  return new MasterKeyring(keys);
}

function decodeKey(text: string, source: string, version: number): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  // 32 bytes are 43 base64 characters and one '=' of padding; base64url is accepted too.
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) return Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  throw new SoakpError('invalid_config', `${source}: master key version ${version} is not 32 bytes of base64 or hex.`);
}

function readKeyFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new SoakpError('master_key_missing', `Cannot read the master-key file ${file}.`, { cause });
  }
  assertOwnerOnly(file);
  return text;
}

// A key others on the host can read is a key they have: refused, not warned about, since a
// warning scrolls past and the key stays exposed. (Windows has no such mode bits.)
function assertOwnerOnly(file: string): void {
  if (process.platform === 'win32') return;
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  throw new SoakpError(
    'invalid_config',
    `The master-key file ${file} can be read or changed by other users (mode ${mode.toString(8).padStart(4, '0')}). ` +
      `Make it owner-only with \`chmod 600 ${file}\` and start again.`,
  );
}

/** Adds a fresh random version to a file keyring; atomic (write, fsync, rename), mode 0600. */
export function addKeyVersion(source: MasterKeySource): number {
  if (source.kind === 'env' || !source.file) {
    throw new SoakpError(
      'invalid_config',
      'The master key comes from SOAKP_MASTER_KEY, which soakp cannot change. Add a new version there ' +
        '(e.g. "1:<old>,2:<new>", a new key from `openssl rand -base64 32`) and run `soakp vault rotate` again.',
    );
  }
  const next = source.load().current + 1;
  // Comments stay; a file holding one bare key has it marked as version 1 so the next parses.
  const lines = readKeyFile(source.file)
    .trimEnd()
    .split('\n')
    .map((line) => (line.trim() === '' || line.trim().startsWith('#') || /^\s*\d+:/.test(line) ? line : `1:${line.trim()}`));
  writeFileAtomic(source.file, `${[...lines, `${next}:${randomBytes(32).toString('base64')}`].join('\n')}\n`);
  return next;
}

function generateKeyFile(file: string, onGenerate?: (file: string) => void): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileAtomic(file, `1:${randomBytes(32).toString('base64')}\n`, { exclusive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return; // another process generated it first
    throw err;
  }
  onGenerate?.(file);
}
