import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { freshSchema, postgresAvailable } from '../helpers/postgres.js';
import { type ServeProcess, startServes } from '../helpers/serve.js';
import { REDIS_URL, redisAvailable } from '../helpers/services.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const available = (await postgresAvailable('two instances on PostgreSQL')) && (await redisAvailable('two instances on PostgreSQL'));

/** Two `soakp serve` processes on one PostgreSQL schema and one Redis, in front of one fake upstream. */
describe.runIf(available)('two instances on one PostgreSQL and one Redis', () => {
  const temp = tempDir();
  let upstream: FakeUpstream;
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  let env: NodeJS.ProcessEnv;
  const servers: ServeProcess[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    schema = await freshSchema();
    const config = join(temp.dir, 'soakp.yaml');
    writeFileSync(config, 'budgets:\n  completionCeiling: 2\n');
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_DATABASE_URL: schema.url, SOAKP_REDIS_URL: REDIS_URL, SOAKP_CONFIG: config, SOAKP_LOG_LEVEL: 'info' };
    json(await runCli(['user', 'add', 'pg@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    servers.push(...(await startServes([{ env }, { env }])));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await upstream?.close();
    await schema?.drop();
    temp.cleanup();
  });

  const issue = async (...options: string[]) => json<{ token: string; tokenId: string }>(await runCli(['token', 'issue', 'pg@example.com', ...options, '--json'], env));
  const models = (i: number, token: string) => fetch(`${servers[i % 2]?.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
  const chat = (i: number, token: string) =>
    fetch(`${servers[i % 2]?.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }) });

  it('refuses a token revoked through the CLI on both instances within a second', async () => {
    const { token, tokenId } = await issue();
    expect((await models(0, token)).status).toBe(200);
    expect((await models(1, token)).status).toBe(200);
    expect((await runCli(['token', 'revoke', tokenId], env)).code).toBe(0);
    const revokedAt = Date.now();
    for (const i of [0, 1]) {
      while ((await models(i, token)).status === 200 && Date.now() - revokedAt < 5_000);
    }
    expect(Date.now() - revokedAt).toBeLessThan(1_000);
    expect((await models(0, token)).status).toBe(401);
    expect((await models(1, token)).status).toBe(401);
  });

  it('lets exactly N of a burst spread over both instances through an RPM limit of N', async () => {
    const { token } = await issue('--rpm', '10');
    const before = upstream.requests.length;
    const statuses = (await Promise.all(Array.from({ length: 60 }, (_, i) => models(i, token)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(50);
    expect(upstream.requests.length - before).toBe(10);
  });

  it('holds a token budget under concurrent requests to both instances', async () => {
    const { token } = await issue('--token-budget', '100', '--budget-period', 'total');
    const before = upstream.requests.length;
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => chat(i, token)));
    const bodies = await Promise.all(results.map((r) => r.json() as Promise<{ usage?: { total_tokens: number }; error?: { code: string } }>));
    const spent = bodies.reduce((n, b) => n + (b.usage?.total_tokens ?? 0), 0);
    const admitted = results.filter((r) => r.status === 200).length;
    expect(admitted).toBeGreaterThan(0);
    expect(upstream.requests.length - before).toBe(admitted);
    // Each request is reserved its worst case before it is sent: the budget is never passed.
    expect(spent).toBeLessThanOrEqual(100);
    expect(bodies.filter((b) => b.error?.code === 'insufficient_quota')).toHaveLength(40 - admitted);
  });
});
