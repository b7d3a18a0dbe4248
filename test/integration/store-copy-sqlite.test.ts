import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, runCli } from '../helpers/cli.js';
import { buildDeployment, operatorView } from '../helpers/deployment.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { randomMasterKey, tempDir } from '../helpers/temp.js';

/** `store copy` between SQLite files, and what it refuses; no PostgreSQL needed. */
describe('soakp store copy between SQLite files', () => {
  const temp = tempDir();
  let upstream: FakeUpstream;
  let env: NodeJS.ProcessEnv;
  let before: Record<string, unknown>;
  let source: string;
  const copy = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli(['store', 'copy', ...args], { ...env, ...extra });
  const encrypted = (file: string) => existsSync(`${file}.key`) && readFileSync(file).subarray(0, 15).toString('latin1') !== 'SQLite format 3';

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    await buildDeployment(env);
    before = await operatorView(env);
    source = join(temp.dir, 'soakp.db');
  }, 120_000);

  afterAll(async () => {
    await upstream?.close();
    temp.cleanup();
  });

  it('encrypts a new file with --encrypt-database, and an encrypted source stays encrypted without it', async () => {
    const first = join(temp.dir, 'enc', 'soakp.db');
    json(await copy(['--from', source, '--to', first, '--encrypt-database', '--json']));
    expect(encrypted(first)).toBe(true);
    const second = join(temp.dir, 'again', 'soakp.db');
    json(await copy(['--from', `sqlite:${first}`, '--to', second, '--json']));
    expect(encrypted(second)).toBe(true);
    expect(await operatorView({ ...env, SOAKP_DATABASE_URL: second })).toEqual(before);
  }, 60_000);

  it('refuses a source it cannot open with this master key, and creates nothing', async () => {
    const to = join(temp.dir, 'never.db');
    const r = await copy(['--from', source, '--to', to], { SOAKP_MASTER_KEY: randomMasterKey() });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/Cannot copy from .*soakp\.db: The master key \(version 1\) is not the one this data was written with\. store copy needs the master key/);
    expect(existsSync(to)).toBe(false);
  });

  it('refuses a destination file that holds data, and changes nothing in it', async () => {
    const to = join(temp.dir, 'held.db');
    json(await copy(['--from', source, '--to', to, '--json']));
    json(await runCli(['user', 'add', 'dave@example.com', '--key', 'sk-dave', '--json'], { ...env, SOAKP_DATABASE_URL: to }));
    const held = await operatorView({ ...env, SOAKP_DATABASE_URL: to });
    const r = await copy(['--from', source, '--to', to]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/already holds soakp data \(users: 3, /);
    expect(await operatorView({ ...env, SOAKP_DATABASE_URL: to })).toEqual(held);
  }, 60_000);

  it('refuses what cannot be a copy, with the reason', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [['--from', join(temp.dir, 'missing.db'), '--to', join(temp.dir, 'x.db')], 3, /no database file .*missing\.db/],
      [['--from', source, '--to', `sqlite:${source}`], 2, /the same database/],
      [['--from', source, '--to', 'memory:'], 2, /memory: is not a database that outlives/],
      [['--from', source, '--to', 'mysql://u:pw@127.0.0.1/x'], 2, /--to mysql:\/\/u:\*\*\*@127\.0\.0\.1\/x: "mysql:" is not a store soakp has/],
      [['--from', source, '--to', 'postgres://u@127.0.0.1:1/x', '--encrypt-database'], 2, /for a SQLite destination; PostgreSQL relies on the vault's per-record encryption and TLS/],
      [['--from', source, '--to', join(temp.dir, 'x.db'), '--database-url', source], 2, /--from and --to, not --database-url/],
      [['--from', source], 2, /required option '--to/],
    ];
    for (const [args, code, message] of cases) {
      const r = await copy(args);
      expect([args, r.code]).toEqual([args, code]);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(join(temp.dir, 'x.db'))).toBe(false);
  }, 60_000);

  it('never prints the password of a database URL', async () => {
    for (const to of ['postgres://soakp:hunter2pw@127.0.0.1:1/x', 'postgres://soakp@127.0.0.1:1/x?password=hunter2pw&sslmode=disable']) {
      for (const args of [['--from', source, '--to', to], ['--from', to, '--to', join(temp.dir, 'y.db')], ['--from', source, '--to', to, '--json']]) {
        const r = await copy(args);
        expect(r.code).not.toBe(0);
        expect(`${r.stdout}${r.stderr}`).not.toContain('hunter2pw');
      }
    }
  }, 60_000);
});
