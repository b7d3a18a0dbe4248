import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { freshSchema, postgresAvailable } from '../helpers/postgres.js';
import { REDIS_URL, redisAvailable } from '../helpers/services.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const SUITE = 'a Redis outage under two instances on PostgreSQL';
const available = (await postgresAvailable(SUITE)) && (await redisAvailable(SUITE));

/**
 * Two instances share one PostgreSQL schema and reach Redis through a relay the test cuts, as a
 * network outage would: one deployment per `rateLimits.failOpen` setting.
 */
describe.runIf(available).each([false, true])(`${SUITE}, rateLimits.failOpen: %s`, (failOpen) => {
  const temp = tempDir();
  let upstream: FakeUpstream;
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
  let env: NodeJS.ProcessEnv;
  const servers: RunningServer[] = [];
  const instances: Soakp[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    schema = await freshSchema();
    const redis = new URL(REDIS_URL);
    proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    const config = join(temp.dir, 'soakp.yaml');
    writeFileSync(config, `rateLimits:\n  redisUrl: redis://127.0.0.1:${proxy.port}\n  failOpen: ${failOpen}\n`);
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_DATABASE_URL: schema.url, SOAKP_CONFIG: config };
    json(await runCli(['user', 'add', 'r@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    for (let i = 0; i < 2; i++) {
      const soakp = await Soakp.open({ logLevel: 'silent', env });
      instances.push(soakp);
      servers.push(await soakp.listen({ host: '127.0.0.1', port: 0 }));
    }
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) await s.close();
    for (const i of instances) await i.close();
    await proxy?.close();
    await upstream?.close();
    await schema?.drop();
    temp.cleanup();
  });

  const issue = async (...options: string[]) => json<{ token: string }>(await runCli(['token', 'issue', 'r@example.com', ...options, '--json'], env));
  const models = (i: number, token: string) => fetch(`${servers[i % 2]?.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
  const ready = async (i: number) => (await fetch(`${servers[i]?.url}/readyz`)).status;

  it(`${failOpen ? 'admits limited requests uncounted' : 'refuses limited requests with 503'} while Redis is down, and counts again once it is back`, async () => {
    const limited = await issue('--rpm', '5');
    const free = await issue();
    expect((await models(0, limited.token)).status).toBe(200);
    expect((await models(1, limited.token)).status).toBe(200);

    await proxy.cut();
    const served = upstream.requests.length;
    for (const i of [0, 1]) {
      const res = await models(i, limited.token);
      if (failOpen) expect(res.status).toBe(200);
      else {
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toBe('1');
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('limiter_unavailable');
      }
      // A token without limits never touches Redis.
      expect((await models(i, free.token)).status).toBe(200);
      // Fail closed: not ready, so a load balancer stops sending here. Fail open: still ready.
      expect(await ready(i)).toBe(failOpen ? 200 : 503);
    }
    expect(upstream.requests.length - served).toBe(failOpen ? 4 : 2);

    await proxy.restore();
    // Counting resumes once both reconnect: the limit of 5 a minute is reached again, on both.
    await eventually(async () => (await models(0, limited.token)).status === 429, 10_000);
    expect((await models(1, limited.token)).status).toBe(429);
    expect(await ready(0)).toBe(200);
    expect(await ready(1)).toBe(200);
  }, 30_000);
});
