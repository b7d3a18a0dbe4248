import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CliResult, json, runCli } from '../helpers/cli.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

// As the NanoGPT multi-user proxy's init-db.js writes a user: AES-256-CTR under SHA-256 of the
// DB_ENCRYPTION_KEY text, all-zero IV, hex.
const proxyEncrypt = (secret: string, key: string): string =>
  createCipheriv('aes-256-ctr', createHash('sha256').update(secret).digest(), Buffer.alloc(16, 0)).update(key, 'utf8', 'hex');

/** A keys.db with init-db.js's schema and statement; `rows` hold each api_key as stored. */
function keysDb(file: string, rows: Array<[string, string]>): string {
  const db = new BetterSqlite3(file);
  db.exec('CREATE TABLE IF NOT EXISTS users (\n    email TEXT PRIMARY KEY,\n    api_key TEXT NOT NULL\n  );');
  for (const [email, stored] of rows) db.prepare('INSERT OR REPLACE INTO users VALUES (?, ?)').run(email, stored);
  db.close();
  return file;
}

describe('soakp import --from nanogpt-proxy', () => {
  let temp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;
  let secret: string;
  let secrets: string[];
  const users = async () => json<Array<{ email: string; keys: Array<{ upstream: string; hint: string }>; tokens: number }>>(await runCli(['user', 'list', '--json'], env));
  const run = async (file: string, input: string, extra: string[] = []): Promise<CliResult> => {
    const r = await runCli(['import', '--from', 'nanogpt-proxy', file, ...extra], env, input);
    for (const s of secrets) expect(`${r.stdout}${r.stderr}`).not.toContain(s); // no key, ciphertext or DB_ENCRYPTION_KEY
    return r;
  };
  const proxyDb = (rows: Array<[string, string]>) => {
    const sealed = rows.map(([email, key]): [string, string] => [email, proxyEncrypt(secret, key)]);
    secrets.push(...rows.map(([, key]) => key), ...sealed.map(([, s]) => s));
    return keysDb(join(temp.dir, `keys-${randomBytes(4).toString('hex')}.db`), sealed);
  };

  beforeEach(() => {
    temp = tempDir();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey() };
    secret = randomBytes(32).toString('hex'); // the README's `openssl rand -hex 32`
    secrets = [secret];
  });
  afterEach(() => temp.cleanup());

  it('creates the users with their keys, masked, and leaves the proxy\'s file as it was', async () => {
    const [a, b] = [canaryKey(), canaryKey()];
    const file = proxyDb([['alice@example.com', a], ['Bob@Example.com', b]]);
    const before = readFileSync(file);
    const r = await run(file, `${secret}\n`, ['--upstream', 'nanogpt', '--json']);
    expect(json<{ imported: number; emails: string[] }>(r)).toEqual({ imported: 2, emails: ['alice@example.com', 'bob@example.com'] });
    expect(readFileSync(file).equals(before)).toBe(true);
    const list = await users();
    expect(list.map((u) => [u.email, u.keys, u.tokens])).toEqual([
      ['alice@example.com', [{ upstream: 'nanogpt', hint: `sk-…${a.slice(-4)}` }], 0],
      ['bob@example.com', [{ upstream: 'nanogpt', hint: `sk-…${b.slice(-4)}` }], 0],
    ]);
    const audit = json<Array<{ action: string; details: Record<string, unknown> }>>(await runCli(['audit', 'list', '--json'], env));
    expect(audit.find((e) => e.action === 'user.import')?.details).toMatchObject({ count: 2, from: 'nanogpt-proxy', upstream: 'nanogpt' });
  });

  it('refuses a wrong encryption key, saying so, and imports nothing', async () => {
    const file = proxyDb([['alice@example.com', canaryKey()], ['bob@example.com', canaryKey()]]);
    const r = await run(file, randomBytes(32).toString('hex'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Nothing was imported[\s\S]*encryption key is wrong/);
    expect(await users()).toEqual([]);
  });

  it('imports nothing when a row has a bad email or names an existing user, and names every one', async () => {
    json(await runCli(['user', 'add', 'carol@example.com', '--key', canaryKey(), '--no-token', '--json'], env));
    const file = proxyDb([['alice@example.com', canaryKey()], ['not-an-email', canaryKey()], ['carol@example.com', canaryKey()]]);
    const r = await run(file, secret);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/"not-an-email" is not a valid email/);
    expect(r.stderr).toMatch(/carol@example\.com already exists/);
    expect((await users()).map((u) => u.email)).toEqual(['carol@example.com']);
  });

  it('names a damaged row and a row in an unknown form', async () => {
    const file = proxyDb([['alice@example.com', canaryKey()], ['bob@example.com', canaryKey()]]);
    const db = new BetterSqlite3(file);
    db.prepare("UPDATE users SET api_key = ? WHERE email = 'alice@example.com'").run(randomBytes(40).toString('hex'));
    db.prepare("INSERT INTO users VALUES ('dave@example.com', 'zz:not-hex')").run();
    db.close();
    const r = await run(file, secret);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/alice@example\.com: the stored key does not decrypt/);
    expect(r.stderr).toMatch(/dave@example\.com: the stored key is not in a known form/);
    expect(r.stderr).not.toMatch(/bob@example/);
    expect(await users()).toEqual([]);
  });

  it('reads an iv:ciphertext prefix in hex or base64, and a 64-hex-digit key used as the AES key', async () => {
    const [a, b] = [canaryKey(), canaryKey()];
    const seal = (key: string, enc: 'hex' | 'base64') => {
      const iv = randomBytes(16);
      const c = createCipheriv('aes-256-ctr', Buffer.from(secret, 'hex'), iv);
      return `${iv.toString(enc)}:${Buffer.concat([c.update(key), c.final()]).toString(enc)}`;
    };
    const rows: Array<[string, string]> = [['alice@example.com', seal(a, 'hex')], ['bob@example.com', seal(b, 'base64')]];
    secrets.push(a, b, ...rows.map(([, s]) => s));
    const r = await run(keysDb(join(temp.dir, 'variant.db'), rows), secret, ['--json']);
    expect(json<{ imported: number }>(r).imported).toBe(2);
    expect((await users()).map((u) => u.keys[0]?.hint)).toEqual([`sk-…${a.slice(-4)}`, `sk-…${b.slice(-4)}`]);
  });

  it('refuses an empty key, a file that is not the proxy\'s, and --upstream on a JSON import', async () => {
    const file = proxyDb([['alice@example.com', canaryKey()]]);
    expect((await run(file, '  \n')).stderr).toMatch(/DB_ENCRYPTION_KEY on standard input/);
    const text = join(temp.dir, 'text.db');
    writeFileSync(text, 'not a database '.repeat(100));
    expect((await run(text, secret)).stderr).toMatch(/is not a SQLite database/);
    const other = new BetterSqlite3(join(temp.dir, 'other.db'));
    other.exec('CREATE TABLE accounts (id INTEGER)');
    other.close();
    expect((await run(join(temp.dir, 'other.db'), secret)).stderr).toMatch(/no users table/);
    expect((await run(join(temp.dir, 'missing.db'), secret)).stderr).toMatch(/Cannot open/);
    const jsonFile = join(temp.dir, 'users.json');
    writeFileSync(jsonFile, '[]');
    expect((await runCli(['import', jsonFile, '--upstream', 'nanogpt'], env)).code).toBe(2);
    expect(await users()).toEqual([]);
  });
});
