import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { json, runCli } from '../helpers/cli.js';
import { startServe } from '../helpers/serve.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const mode = (path: string): number => statSync(path).mode & 0o777;
const SQLITE_HEADER = 'SQLite format 3\u0000';

/** The files soakp keeps: key files, the data directory and the database file. */
describe('key files, the data directory and the database file', () => {
  let temp: ReturnType<typeof tempDir>;

  beforeEach(() => {
    temp = tempDir();
  });
  afterEach(() => temp.cleanup());

  describe('master-key files readable by others', () => {
    it('refuses a SOAKP_MASTER_KEY_FILE that group or others can read, naming the chmod that fixes it', async () => {
      const file = join(temp.dir, 'key.txt');
      writeFileSync(file, `1:${randomMasterKey()}\n`, { mode: 0o644 });
      chmodSync(file, 0o644);
      const env = { SOAKP_DATA_DIR: join(temp.dir, 'data'), SOAKP_MASTER_KEY_FILE: file };
      const r = await runCli(['user', 'list'], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`chmod 600 ${file}`);
      expect(existsSync(join(temp.dir, 'data', 'soakp.db'))).toBe(false);
      chmodSync(file, 0o600);
      expect((await runCli(['user', 'list'], env)).code).toBe(0);
    });

    it('refuses a generated master.key that was made readable by others', async () => {
      const env = { SOAKP_DATA_DIR: temp.dir };
      expect((await runCli(['user', 'list'], env)).code).toBe(0);
      const file = join(temp.dir, 'master.key');
      chmodSync(file, 0o640);
      const r = await runCli(['user', 'list'], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`chmod 600 ${file}`);
    });
  });

  describe('the data directory', () => {
    it('is created owner-only (0700), with its missing parents', async () => {
      const dataDir = join(temp.dir, 'a', 'data');
      json(await runCli(['user', 'list', '--json'], { SOAKP_DATA_DIR: dataDir }));
      expect(mode(dataDir)).toBe(0o700);
      expect(mode(join(temp.dir, 'a'))).toBe(0o700);
    });

    it('is used as it is when it already exists with wider permissions, with a warning naming the chmod', async () => {
      chmodSync(temp.dir, 0o755);
      const env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey() };
      const r = await runCli(['user', 'list', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`chmod 700 ${temp.dir}`);
      expect(mode(temp.dir)).toBe(0o755);
      chmodSync(temp.dir, 0o700);
      expect((await runCli(['user', 'list', '--json'], env)).stderr).toBe('');
    });
  });

  describe('a lost generated master.key', () => {
    it.each([
      ['a plain database', [] as string[]],
      ['an encrypted database', ['--encrypt-database']],
    ])('is not replaced by a new one next to %s that holds sealed data', async (_name, flags) => {
      const env = { SOAKP_DATA_DIR: temp.dir };
      json(await runCli(['user', 'add', 'a@example.com', '--key', canaryKey(), '--json', ...flags], env));
      const db = readFileSync(join(temp.dir, 'soakp.db'));
      unlinkSync(join(temp.dir, 'master.key'));
      const r = await runCli(['user', 'list'], env);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/master\.key is missing, but the database holds data sealed by a master key/);
      expect(existsSync(join(temp.dir, 'master.key'))).toBe(false);
      expect(readFileSync(join(temp.dir, 'soakp.db')).equals(db)).toBe(true);
    });
  });

  describe('a database file that is not soakp’s', () => {
    const env = (dir: string) => ({ SOAKP_DATA_DIR: dir, SOAKP_MASTER_KEY: randomMasterKey() });

    it('refuses an empty (0-byte) file instead of making it a fresh vault', async () => {
      const file = join(temp.dir, 'soakp.db');
      writeFileSync(file, '');
      const r = await runCli(['user', 'list'], env(temp.dir));
      expect(r.code).toBe(5);
      expect(r.stderr).toContain(`The database file ${file} is empty`);
      expect(statSync(file).size).toBe(0);
    });

    it('refuses another program’s SQLite database and leaves it untouched', async () => {
      const file = join(temp.dir, 'soakp.db');
      const other = new BetterSqlite3(file);
      other.exec('CREATE TABLE invoices (id integer primary key, total real); INSERT INTO invoices (total) VALUES (12.5)');
      other.close();
      const before = readFileSync(file);
      const r = await runCli(['user', 'list'], env(temp.dir));
      expect(r.code).toBe(5);
      expect(r.stderr).toContain(`${file} is a SQLite database of another program`);
      expect(readFileSync(file).equals(before)).toBe(true);
    });

    it('refuses a file that is not a database at all', async () => {
      writeFileSync(join(temp.dir, 'soakp.db'), 'not a database '.repeat(300));
      const r = await runCli(['user', 'list'], env(temp.dir));
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/not a SQLite database/);
    });
  });

  describe('whole-file encryption', () => {
    it('soakp serve --encrypt-database creates an encrypted file', async () => {
      const env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey() };
      const server = await startServe(env, ['--encrypt-database']);
      expect(await server.stop()).toBe(0);
      expect(readFileSync(join(temp.dir, 'soakp.db')).subarray(0, 16).toString('latin1')).not.toBe(SQLITE_HEADER);
      expect(existsSync(join(temp.dir, 'soakp.db.key'))).toBe(true);
    });

    it.each([
      ['SOAKP_MASTER_KEY', (dir: string) => ({ SOAKP_MASTER_KEY: randomMasterKey(), dir })],
      ['SOAKP_MASTER_KEY_FILE', (dir: string) => {
        const file = join(dir, '..', 'key-file');
        writeFileSync(file, `1:${randomMasterKey()}\n`, { mode: 0o600 });
        return { SOAKP_MASTER_KEY_FILE: file, dir };
      }],
    ])('creates an encrypted database in a missing data directory with %s', async (_name, make) => {
      mkdirSync(join(temp.dir, 'parent'), { mode: 0o700 });
      const { dir: _d, ...key } = make(join(temp.dir, 'parent', 'x'));
      const dataDir = join(temp.dir, 'parent', 'missing', 'data');
      const env = { SOAKP_DATA_DIR: dataDir, ...key };
      const r = await runCli(['user', 'add', 'a@example.com', '--key', canaryKey(), '--encrypt-database', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(join(dataDir, 'soakp.db')).subarray(0, 16).toString('latin1')).not.toBe(SQLITE_HEADER);
      expect(json<Array<{ email: string }>>(await runCli(['user', 'list', '--json'], env))[0]?.email).toBe('a@example.com');
    });
  });
});
