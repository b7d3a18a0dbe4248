import { createDecipheriv, createHash } from 'node:crypto';
import { validateUpstreamKey } from '../domain/index.js';
import { SoakpError, isSoakpError } from '../shared/index.js';
import type { Accounts } from './accounts.js';
import { type CheckedEntry, createAll, newEmail } from './import.js';

/** A row of the NanoGPT multi-user proxy's `users(email, api_key)` table, as SQLite returns it. */
export interface NanogptRow {
  email: unknown;
  api_key: unknown;
}

// The proxy's init-db.js writes api_key as the hex of AES-256-CTR under SHA-256 of the
// DB_ENCRYPTION_KEY text, with an all-zero IV and nothing else stored. Cheap variants are read
// too, each told apart by its shape: an `iv:ciphertext` prefix in hex or base64, and a
// DB_ENCRYPTION_KEY of 64 hex digits used as the AES key itself (docs/cli.md).
const ZERO_IV = Buffer.alloc(16);
const HEX = /^(?:[0-9a-f]{2})+$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface Sealed {
  iv: Buffer;
  data: Buffer;
}

function parseSealed(text: string): Sealed | undefined {
  if (HEX.test(text)) return { iv: ZERO_IV, data: Buffer.from(text, 'hex') };
  const [iv, data, ...rest] = text.split(':');
  if (iv === undefined || !data || rest.length > 0) return undefined;
  if (/^[0-9a-f]{32}$/i.test(iv) && HEX.test(data)) return { iv: Buffer.from(iv, 'hex'), data: Buffer.from(data, 'hex') };
  if (!BASE64.test(iv) || !BASE64.test(data)) return undefined;
  // 32 hex digits are also base64, but of 24 bytes: an IV is 16, so the two forms cannot mix.
  const ivBytes = Buffer.from(iv, 'base64');
  return ivBytes.length === 16 ? { iv: ivBytes, data: Buffer.from(data, 'base64') } : undefined;
}

/** The AES keys DB_ENCRYPTION_KEY may stand for, the proxy's own derivation first. */
function candidateKeys(secret: string): Buffer[] {
  const keys = [createHash('sha256').update(secret, 'utf8').digest()];
  if (/^[0-9a-f]{64}$/i.test(secret)) keys.push(Buffer.from(secret, 'hex'));
  return keys;
}

/**
 * CTR authenticates nothing, so a wrong key still "decrypts". What it yields is noise, which is
 * printable ASCII of 8 or more characters with odds of 0.37^8 (≈ 3 in 10,000) for one row, far
 * less at a real key's length, and a wrong key imports only if every row passes. An API key is
 * always such text.
 */
function open(key: Buffer, sealed: Sealed): string | undefined {
  const decipher = createDecipheriv('aes-256-ctr', key, sealed.iv);
  const plain = Buffer.concat([decipher.update(sealed.data), decipher.final()]);
  const text = plain.toString('latin1');
  plain.fill(0);
  return text.length >= 8 && text.length <= 1024 && /^[\x21-\x7e]+$/.test(text) ? text : undefined;
}

/**
 * The proxy's users, decrypted and checked like `soakp import`: every problem is reported at
 * once, naming rows by email and never showing a key, and then all are created or none.
 */
export async function importNanogptProxy(accounts: Accounts, rows: NanogptRow[], secret: string, upstream?: string): Promise<string[]> {
  const name = accounts.upstreamName(upstream); // one answer for every row, before any of them
  const sealed = rows.map((r) => (typeof r.api_key === 'string' ? parseSealed(r.api_key) : undefined));
  // The key that opens most rows; with the right one, a row it cannot open is damaged.
  const tries = candidateKeys(secret).map((k) => sealed.map((s) => (s ? open(k, s) : undefined)));
  const opened = tries.reduce((best, t) => (count(t) > count(best) ? t : best));
  const wrongKey = sealed.some(Boolean) && count(opened) === 0;
  const problems = wrongKey ? ['the encryption key is wrong: it decrypts none of the stored keys to a plausible API key (give the value of the proxy\'s DB_ENCRYPTION_KEY)'] : [];
  const seen = new Set<string>();
  const entries: CheckedEntry[] = [];
  for (const [i, row] of rows.entries()) {
    try {
      if (typeof row.email !== 'string') throw new SoakpError('invalid_request', `row ${i + 1}: the email is not text`);
      const email = await newEmail(accounts, seen, row.email);
      const key = opened[i];
      if (key !== undefined) entries.push({ email, key: validateUpstreamKey(key), upstream: name });
      else if (typeof row.api_key !== 'string') throw new SoakpError('invalid_key', `${email}: the stored key is not text`);
      else if (!sealed[i]) throw new SoakpError('invalid_key', `${email}: the stored key is not in a known form (hex, or iv:ciphertext in hex or base64)`);
      else if (!wrongKey) throw new SoakpError('invalid_key', `${email}: the stored key does not decrypt to a plausible API key (a damaged row, or written with another key)`);
    } catch (err) {
      if (!isSoakpError(err)) throw err;
      problems.push(err.message);
    }
  }
  return createAll(accounts, entries, problems, { from: 'nanogpt-proxy', upstream: name });
}

function count(opened: Array<string | undefined>): number {
  return opened.filter((k) => k !== undefined).length;
}
