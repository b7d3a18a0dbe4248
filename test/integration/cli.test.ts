import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { json, runCli } from '../helpers/cli.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

describe('the soakp command, end to end in a temporary data directory', () => {
  let temp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;

  beforeEach(() => {
    temp = tempDir();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey() };
  });
  afterEach(() => temp.cleanup());

  it('adds a user from stdin and prints a token once, as JSON', async () => {
    const key = canaryKey();
    const out = json<{ email: string; token: string; tokenId: string }>(await runCli(['user', 'add', 'Alice@Example.com', '--key-stdin', '--json'], env, `${key}\n`));
    expect(out.email).toBe('alice@example.com');
    expect(out.token).toMatch(/^sk-soakp-[0-9A-Za-z]{50}$/);
    expect(out.tokenId).toMatch(/^tok_/);
    const list = await runCli(['user', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('alice@example.com');
    expect(list.stdout).toContain(`sk-…${key.slice(-4)}`);
    expect(list.stdout).not.toContain(key);
    const tokens = await runCli(['token', 'list', '--json'], env);
    expect(tokens.stdout).not.toContain(out.token);
    expect(json<Array<{ id: string; prefix: string; state: string }>>(tokens)).toEqual([
      expect.objectContaining({ id: out.tokenId, prefix: `${out.token.slice(0, 13)}…`, state: 'active' }),
    ]);
  });

  it('accepts --key, --no-token, --upstream presets, and refuses both key options at once', async () => {
    const r = json<{ token: string | null }>(await runCli(['user', 'add', 'bob@example.com', '--key', canaryKey(), '--no-token', '--upstream', 'openrouter', '--json'], env));
    expect(r.token).toBeNull();
    const users = json<Array<{ keys: Array<{ upstream: string }>; tokens: number }>>(await runCli(['user', 'list', '--json'], env));
    expect(users[0]?.keys[0]?.upstream).toBe('openrouter');
    expect(users[0]?.tokens).toBe(0);
    const both = await runCli(['user', 'add', 'c@example.com', '--key', 'x', '--key-stdin'], env, 'y');
    expect(both.code).toBe(2);
  });

  it('issues, lists and revokes tokens; expiry parses', async () => {
    json(await runCli(['user', 'add', 'a@example.com', '--key', canaryKey(), '--json'], env));
    const t = json<{ tokenId: string; expiresAt: string }>(await runCli(['token', 'issue', 'a@example.com', '--name', 'laptop', '--expires', '30d', '--json'], env));
    expect(Date.parse(t.expiresAt)).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    expect(json<unknown[]>(await runCli(['token', 'list', 'a@example.com', '--json'], env))).toHaveLength(2);
    json(await runCli(['token', 'revoke', t.tokenId, '--json'], env));
    const after = json<Array<{ id: string; state: string }>>(await runCli(['token', 'list', '--json'], env));
    expect(after.find((x) => x.id === t.tokenId)?.state).toBe('revoked');
    const bad = await runCli(['token', 'issue', 'a@example.com', '--expires', 'soon'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('not a duration');
    expect((await runCli(['token', 'revoke', 'tok_nope'], env)).code).toBe(3);
  });

  it('replaces a key, disables, enables and deletes a user', async () => {
    json(await runCli(['user', 'add', 'a@example.com', '--key', canaryKey(), '--json'], env));
    const newKey = canaryKey();
    const set = json<{ hint: string }>(await runCli(['key', 'set', 'a@example.com', '--key-stdin', '--json'], env, newKey));
    expect(set.hint).toBe(`sk-…${newKey.slice(-4)}`);
    json(await runCli(['user', 'disable', 'a@example.com', '--json'], env));
    expect(json<Array<{ status: string }>>(await runCli(['user', 'list', '--json'], env))[0]?.status).toBe('disabled');
    json(await runCli(['user', 'enable', 'a@example.com', '--json'], env));
    json(await runCli(['user', 'del', 'a@example.com', '--json'], env));
    expect(json<unknown[]>(await runCli(['user', 'list', '--json'], env))).toEqual([]);
  });

  it('gives clear errors and exit codes for bad input, and changes nothing', async () => {
    json(await runCli(['user', 'add', 'a@example.com', '--key', canaryKey(), '--json'], env));
    const before = await runCli(['user', 'list', '--json'], env);
    const cases: Array<[string[], string | undefined, number, RegExp]> = [
      [['user', 'add', 'not-an-email', '--key', 'sk-x'], undefined, 2, /not a valid email/],
      [['user', 'add', 'b@example.com', '--key-stdin'], '   ', 2, /empty/],
      [['user', 'add', 'b@example.com', '--key-stdin'], 'x'.repeat(5000), 2, /at most 1024/],
      [['user', 'add', 'a@example.com', '--key', 'sk-x'], undefined, 4, /already exists/],
      [['user', 'add', 'b@example.com', '--key', 'sk-x', '--upstream', 'nowhere'], undefined, 3, /Unknown upstream/],
      [['key', 'set', 'nobody@example.com', '--key', 'sk-x'], undefined, 3, /No user/],
      [['user', 'disable', 'nobody@example.com'], undefined, 3, /No user/],
      [['key', 'set', 'a@example.com'], undefined, 2, /--key-stdin/],
      [['user', 'frobnicate'], undefined, 2, /unknown command/],
    ];
    for (const [args, input, code, message] of cases) {
      const r = await runCli(args, env, input);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    expect((await runCli(['user', 'list', '--json'], env)).stdout).toBe(before.stdout);
    const asJson = await runCli(['user', 'add', 'bad', '--key', 'k', '--json'], env);
    expect(JSON.parse(asJson.stderr)).toEqual({ error: { code: 'invalid_email', message: expect.stringContaining('not a valid email') } });
  });

  it('refuses to start with another master key, and changes nothing', async () => {
    json(await runCli(['user', 'add', 'a@example.com', '--key', canaryKey(), '--json'], env));
    const db = join(temp.dir, 'soakp.db');
    const bytes = readFileSync(db);
    const r = await runCli(['user', 'list'], { ...env, SOAKP_MASTER_KEY: randomMasterKey() });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/not the one this data was written with/);
    expect(readFileSync(db).equals(bytes)).toBe(true);
  });

  it('refuses a database file that is not a database', async () => {
    writeFileSync(join(temp.dir, 'soakp.db'), 'this is not a database, just text '.repeat(200));
    const r = await runCli(['user', 'list'], env);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/not a SQLite database/);
  });

  it('imports users all or nothing, reporting every problem', async () => {
    const good = join(temp.dir, 'good.json');
    writeFileSync(good, JSON.stringify([{ email: 'x@example.com', key: canaryKey() }, { email: 'y@example.com', key: canaryKey(), upstream: 'nanogpt' }]));
    expect(json<{ imported: number }>(await runCli(['import', good, '--json'], env)).imported).toBe(2);
    const bad = join(temp.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify([{ email: 'z@example.com', key: canaryKey() }, { email: 'nope', key: 'k' }, { email: 'x@example.com', key: 'k' }, { key: 'k' }]));
    const r = await runCli(['import', bad], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/entry 2: .*not a valid email/);
    expect(r.stderr).toMatch(/entry 3: .*already exists/);
    expect(r.stderr).toMatch(/entry 4: .*needs "email" and "key"/);
    expect(json<Array<{ email: string }>>(await runCli(['user', 'list', '--json'], env)).map((u) => u.email)).toEqual(['x@example.com', 'y@example.com']);
    writeFileSync(bad, '{not json');
    expect((await runCli(['import', bad], env)).code).toBe(2);
  });

  it('prints an admin token once', async () => {
    const r = json<{ token: string }>(await runCli(['admin', 'token', '--json'], env));
    expect(r.token).toMatch(/^sk-soakp-/);
    expect((await runCli(['token', 'list', '--json'], env)).stdout).not.toContain(r.token);
  });

  it('checks the configuration and reports every problem at once', async () => {
    const good = join(temp.dir, 'soakp.yaml');
    writeFileSync(good, 'port: 8080\nupstreams:\n  nano:\n    preset: nanogpt\n');
    expect((await runCli(['config', 'check', '--config', good], env)).code).toBe(0);
    const bad = join(temp.dir, 'bad.yaml');
    writeFileSync(bad, 'port: 99999\nlogLevel: loud\ncolour: blue\nupstreams:\n  x:\n    auth: magic\n');
    const r = await runCli(['config', 'check', '--config', bad], env);
    expect(r.code).toBe(2);
    for (const problem of [/port/, /logLevel/, /colour/, /upstreams\.x/]) expect(r.stderr).toMatch(problem);
    expect((await runCli(['config', 'check'], { ...env, SOAKP_PORT: 'abc' })).stderr).toMatch(/SOAKP_PORT/);
  });

  it('rotates the master key: data keys move to the new version and still decrypt', async () => {
    // A generated (file) keyring, so that soakp itself can add the new version.
    const fileEnv = { SOAKP_DATA_DIR: temp.dir };
    const added = json<{ token: string }>(await runCli(['user', 'add', 'a@example.com', '--key', canaryKey(), '--json'], fileEnv));
    expect(statSync(join(temp.dir, 'master.key')).mode & 0o777).toBe(0o600);
    const rotated = json<{ version: number; rewrapped: number }>(await runCli(['vault', 'rotate', '--json'], fileEnv));
    expect(rotated).toEqual({ version: 2, rewrapped: 2 }); // the user's key and the token-hash key
    expect(readFileSync(join(temp.dir, 'master.key'), 'utf8')).toMatch(/^1:.+\n2:.+\n$/);
    expect((await runCli(['user', 'list'], fileEnv)).code).toBe(0);
    expect((await runCli(['token', 'list', '--json'], fileEnv)).stdout).toContain(added.token.slice(0, 13));
    // With SOAKP_MASTER_KEY, soakp cannot add a version: it says how to.
    const other = tempDir();
    try {
      const envRotate = await runCli(['vault', 'rotate'], { ...env, SOAKP_DATA_DIR: other.dir });
      expect(envRotate.code).toBe(2);
      expect(envRotate.stderr).toMatch(/1:<old>,2:<new>/);
    } finally {
      other.cleanup();
    }
  });

  it('lets several processes open a new data directory at once (migrations race safely)', async () => {
    const results = await Promise.all(Array.from({ length: 4 }, () => runCli(['user', 'list', '--json'], env)));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
  });

  it('encrypts the whole database when asked, on a new data directory, and detects it afterwards', async () => {
    const added = await runCli(['user', 'add', 'enc@example.com', '--key', canaryKey(), '--encrypt-database', '--json'], env);
    expect(added.code, added.stderr).toBe(0);
    const head = readFileSync(join(temp.dir, 'soakp.db')).subarray(0, 16).toString('latin1');
    expect(head).not.toBe('SQLite format 3\u0000');
    expect(statSync(join(temp.dir, 'soakp.db.key')).mode & 0o777).toBe(0o600);
    // Later commands need no flag: the key file beside the database says it is encrypted.
    expect(json<Array<{ email: string }>>(await runCli(['user', 'list', '--json'], env))[0]?.email).toBe('enc@example.com');
  });

  it('masks passwords in URLs when it prints the configuration', async () => {
    const file = join(temp.dir, 'redis.yaml');
    writeFileSync(file, 'rateLimits:\n  redisUrl: redis://:hunter2secret@127.0.0.1:6379\n');
    const r = await runCli(['config', 'check', '--config', file, '--json'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('hunter2secret');
    expect(r.stdout).toContain('redis://:***@127.0.0.1:6379');
  });

  it('masks the ACME EAB HMAC key, and checks ACME settings that only the environment and files show', async () => {
    const acme = { ...env, SOAKP_TLS: 'acme', SOAKP_ACME_DOMAIN: 'a.example.com', SOAKP_HTTP_PORT: '8080', SOAKP_ACME_EAB_KID: 'kid-1', SOAKP_ACME_EAB_HMAC_KEY: 'hmac-hunter2secret' };
    const r = await runCli(['config', 'check', '--json'], acme);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('hunter2secret');
    expect(JSON.parse(r.stdout).config.tls.acme).toMatchObject({ eabKid: 'kid-1', eabHmacKey: '***' });
    const dns = await runCli(['config', 'check'], { ...acme, SOAKP_ACME_CHALLENGE: 'dns-01', SOAKP_ACME_DNS: 'digitalocean', SOAKP_HTTP_PORT: '' });
    expect(dns.code).toBe(2);
    expect(dns.stderr).toMatch(/ACME DNS provider digitalocean needs DO_AUTH_TOKEN/);
  });

  it('keeps working on a copy of the data directory (a backup restores)', async () => {
    json(await runCli(['user', 'add', 'a@example.com', '--key', canaryKey(), '--json'], env));
    const copy = tempDir();
    try {
      copyFileSync(join(temp.dir, 'soakp.db'), join(copy.dir, 'soakp.db'));
      const r = await runCli(['user', 'list', '--json'], { ...env, SOAKP_DATA_DIR: copy.dir });
      expect(json<Array<{ email: string }>>(r)[0]?.email).toBe('a@example.com');
    } finally {
      copy.cleanup();
    }
  });
});
