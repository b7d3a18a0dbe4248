import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SoakpError } from '../../src/shared/errors.js';
import type { Store } from '../../src/store/ports.js';
import { configureConnection } from '../../src/store/sqlite/connection.js';
import { openSqliteStore } from '../../src/store/sqlite/open.js';
import { aKey, aUser, sealed } from '../contract/fixtures.js';

let dir: string;
let file: string;
const opened: Store[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'soakp-sqlite-file-'));
  file = join(dir, 'soakp.db');
});

afterEach(async () => {
  try {
    for (const store of opened.splice(0)) await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function open(fileKey?: Buffer): Promise<Store> {
  const store = await openSqliteStore(fileKey ? { file, fileKey } : { file });
  opened.push(store);
  return store;
}

async function openError(fileKey?: Buffer): Promise<unknown> {
  return open(fileKey).then(
    () => undefined,
    (err: unknown) => err,
  );
}

function expectCorrupt(err: unknown): void {
  expect(err).toBeInstanceOf(SoakpError);
  expect(err).toMatchObject({ code: 'store_corrupt' });
  expect((err as Error).message).toContain(file);
}

/** The database file and its write-ahead log, as raw bytes. */
function rawBytes(): Buffer {
  const wal = `${file}-wal`;
  return Buffer.concat([readFileSync(file), existsSync(wal) ? readFileSync(wal) : Buffer.alloc(0)]);
}

describe('a file that is not a database', () => {
  it.each([
    ['random bytes', () => randomBytes(8192)],
    ['a text file', () => Buffer.from('# soakp notes\nthis is not a database\n'.repeat(50))],
    ['an empty file', () => Buffer.alloc(0)],
  ])("is refused with 'store_corrupt' naming the file, and left unchanged: %s", async (_, content) => {
    const before = content();
    writeFileSync(file, before);
    expectCorrupt(await openError());
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it("refuses another program's SQLite database before writing anything to it", async () => {
    const other = new BetterSqlite3(file);
    other.exec('CREATE TABLE notes (id integer primary key, body text)');
    other.close();
    const before = readFileSync(file);
    const err = await openError();
    expectCorrupt(err);
    expect((err as Error).message).toMatch(/another program/);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(existsSync(`${file}-wal`)).toBe(false);
  });

  it('creates a new database whole: no temporary file is left, and the file is never empty', async () => {
    await open();
    expect(statSync(file).size).toBeGreaterThan(0);
    expect(readdirSync(dir).filter((f) => f.includes('.new-'))).toEqual([]);
  });
});

describe('whole-file encryption', () => {
  const email = `canary-${randomBytes(6).toString('hex')}@example.test`;
  const hint = `sk-…${randomBytes(4).toString('hex')}`;
  const user = aUser({ email });
  const key = aKey(user.id, { hint, sealed: sealed({ ciphertext: Buffer.from(`ciphertext-${hint}`) }) });

  async function writeCanary(store: Store): Promise<void> {
    await store.users.create(user);
    await store.keys.put(key);
  }

  function expectNoPlaintext(bytes: Buffer): void {
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.includes(email)).toBe(false);
    expect(bytes.includes(hint)).toBe(false);
    expect(bytes.includes('SQLite format 3')).toBe(false);
  }

  it('control: without a file key the same data is visible in the raw bytes', async () => {
    const store = await open();
    await writeCanary(store);
    await store.close();
    const bytes = rawBytes();
    expect(bytes.includes('SQLite format 3')).toBe(true);
    expect(bytes.includes(email)).toBe(true);
  });

  it('keeps the email, the key row and the SQLite header out of the file and its WAL', async () => {
    const fileKey = randomBytes(32);
    const store = await open(fileKey);
    await writeCanary(store);
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(0); // while open, the rows sit in the WAL
    expectNoPlaintext(rawBytes());
    await store.close();
    expectNoPlaintext(rawBytes());
  });

  it("refuses to open without the key or with another key ('store_corrupt'), and opens with the right one", async () => {
    const fileKey = randomBytes(32);
    const store = await open(fileKey);
    await writeCanary(store);
    await store.close();
    const sealedBytes = readFileSync(file);

    expectCorrupt(await openError());
    expectCorrupt(await openError(randomBytes(32)));
    expect(readFileSync(file).equals(sealedBytes)).toBe(true);

    const reopened = await open(Buffer.from(fileKey));
    expect(await reopened.users.byEmail(email)).toEqual(user);
    expect(await reopened.keys.get(user.id, key.upstream)).toEqual(key);
  });
});

describe('file settings', () => {
  it('puts the database in WAL mode', async () => {
    const store = await open();
    await store.users.create(aUser());
    const raw = new BetterSqlite3(file, { readonly: true });
    try {
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      raw.close();
    }
  });

  it('keeps a connection to WAL with a 2 MB page cache (better-sqlite3 sets 16 MB; the WAL test above shows the store applies it)', () => {
    const raw = new BetterSqlite3(file);
    try {
      configureConnection(raw);
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(raw.pragma('cache_size', { simple: true })).toBe(-2000);
      expect(raw.pragma('foreign_keys', { simple: true })).toBe(1);
    } finally {
      raw.close();
    }
  });

  it('switches a new file to WAL while another process holds it locked, once the lock is gone (SQLite answers BUSY at once there)', async () => {
    // The other process: an exclusive lock for 100 ms, said when taken.
    const holder = spawn(process.execPath, ['-e', `const db = new (require('better-sqlite3-multiple-ciphers'))(${JSON.stringify(file)}); db.exec('BEGIN EXCLUSIVE'); console.log('locked'); setTimeout(() => { db.exec('COMMIT'); db.close(); }, 100);`], { stdio: ['ignore', 'pipe', 'inherit'], timeout: 10_000 });
    const [line] = (await once(holder.stdout, 'data')) as [Buffer];
    expect(line.toString()).toContain('locked');
    const raw = new BetterSqlite3(file, { timeout: 0 }); // no busy handler: every lock conflict is BUSY at once
    try {
      configureConnection(raw);
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      raw.close();
      await once(holder, 'exit');
    }
  });

  it('gives the database file (and its WAL) mode 0600, also when the file existed with wider permissions', async () => {
    await (await openSqliteStore({ file })).close();
    chmodSync(file, 0o644);
    const store = await open();
    await store.users.create(aUser());
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const wal = `${file}-wal`;
    expect(existsSync(wal)).toBe(true);
    expect(statSync(wal).mode & 0o777).toBe(0o600);
  });
});
