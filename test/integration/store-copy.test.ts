import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, runCli } from '../helpers/cli.js';
import { type Deployment, buildDeployment, chat, operatorView, serveOnce } from '../helpers/deployment.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { freshSchema, postgresAvailable } from '../helpers/postgres.js';
import { randomMasterKey, tempDir } from '../helpers/temp.js';

const available = await postgresAvailable('store copy between SQLite and PostgreSQL');

/** A deployment built on SQLite, moved to PostgreSQL, served from there, and moved back to an encrypted file. */
describe.runIf(available)('soakp store copy between SQLite and PostgreSQL', () => {
  const temp = tempDir();
  const schemas: Array<Awaited<ReturnType<typeof freshSchema>>> = [];
  let upstream: FakeUpstream;
  let env: NodeJS.ProcessEnv;
  let pgEnv: NodeJS.ProcessEnv;
  let deployment: Deployment;
  let before: Record<string, unknown>;
  const copy = (...args: string[]) => runCli(['store', 'copy', ...args], env);

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    deployment = await buildDeployment(env);
    before = await operatorView(env);
    const target = await freshSchema();
    schemas.push(target);
    pgEnv = { ...env, SOAKP_DATABASE_URL: target.url };
  }, 120_000);

  afterAll(async () => {
    await upstream?.close();
    for (const s of schemas) await s.drop();
    temp.cleanup();
  });

  it('copies every table to PostgreSQL: the operator sees the same deployment, and its audit chain verifies', async () => {
    const out = json<{ from: string; to: string; tables: Record<string, number> }>(await copy('--from', join(temp.dir, 'soakp.db'), '--to', pgEnv.SOAKP_DATABASE_URL as string, '--json'));
    expect(out.to).toBe(pgEnv.SOAKP_DATABASE_URL);
    expect(out.tables).toMatchObject({ users: 2, upstream_keys: 2, tokens: 3, master_keys: 1, usage: 2, audit_head: 1 });
    expect(out.tables.budget_counters).toBeGreaterThan(0);
    expect(out.tables.audit_log).toBe((before.verify as { count: number }).count);
    expect(await operatorView(pgEnv)).toEqual(before);
  }, 60_000);

  it('serves from PostgreSQL: old tokens work against the upstream, a revoked one does not, and the chain goes on', async () => {
    await serveOnce(pgEnv, async (url) => {
      expect((await chat(url, deployment.aliceToken)).status).toBe(200);
      expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${deployment.aliceKey}`);
      expect((await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${deployment.bobToken}` } })).status).toBe(200);
      expect((await chat(url, deployment.revokedToken)).status).toBe(401);
    });
    const requests = (view: unknown) => (view as Array<{ requests: number }>).reduce((n, r) => n + r.requests, 0);
    expect(requests(json(await runCli(['usage', '--by', 'user', '--json'], pgEnv)))).toBe(requests(before.usageByUser) + 2);
    json(await runCli(['user', 'disable', 'bob@example.com', '--json'], pgEnv)); // a new audit entry after the copied ones
    const verified = json<{ ok: boolean; count: number }>(await runCli(['audit', 'verify', '--json'], pgEnv));
    expect(verified.count).toBeGreaterThan((before.verify as { count: number }).count);
  }, 60_000);

  it('refuses a destination that holds data and changes nothing; --replace copies over it', async () => {
    const changed = await operatorView(pgEnv);
    const refused = await copy('--from', join(temp.dir, 'soakp.db'), '--to', pgEnv.SOAKP_DATABASE_URL as string);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/already holds soakp data \(users: 2, .*\); nothing was copied.*--replace/);
    expect(await operatorView(pgEnv)).toEqual(changed);
    json(await copy('--from', join(temp.dir, 'soakp.db'), '--to', pgEnv.SOAKP_DATABASE_URL as string, '--replace', '--json'));
    expect(await operatorView(pgEnv)).toEqual(before);
  }, 60_000);

  it('copies PostgreSQL to a new encrypted SQLite file (--encrypt-database) that verifies and serves', async () => {
    const file = join(temp.dir, 'moved', 'soakp.db');
    const out = await copy('--from', pgEnv.SOAKP_DATABASE_URL as string, '--to', file, '--encrypt-database');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('an encrypted SQLite file');
    expect(existsSync(`${file}.key`)).toBe(true);
    expect(readFileSync(file).subarray(0, 15).toString('latin1')).not.toBe('SQLite format 3');
    const fileEnv = { ...env, SOAKP_DATABASE_URL: file };
    expect(await operatorView(fileEnv)).toEqual(before);
    await serveOnce(fileEnv, async (url) => expect((await chat(url, deployment.aliceToken)).status).toBe(200));
  }, 60_000);

  it('is all or nothing: a copy that fails part-way leaves the destination as it was', async () => {
    const url = pgEnv.SOAKP_DATABASE_URL as string;
    json(await runCli(['user', 'add', 'carol@example.com', '--key-stdin', '--json'], pgEnv, 'sk-carol-key'));
    const held = await operatorView(pgEnv);
    // The destination refuses the audit rows, which come after users, keys, tokens and usage.
    await sqlOn(url, `create function refuse() returns trigger language plpgsql as $$ begin raise exception 'refused by the test'; end $$;
      create trigger refuse before insert on audit_log for each statement execute function refuse()`);
    const failed = await copy('--from', join(temp.dir, 'soakp.db'), '--to', url, '--replace');
    await sqlOn(url, 'drop trigger refuse on audit_log');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('refused by the test');
    expect(await operatorView(pgEnv)).toEqual(held);
  }, 60_000);
});

async function sqlOn(url: string, text: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}
