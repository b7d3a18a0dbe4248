import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { REDIS_URL, redisAvailable } from '../helpers/services.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const SUITE = 'limits shared by two server instances through Redis';

describe.runIf(await redisAvailable(SUITE))(SUITE, () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  const instances: Array<{ soakp: Soakp; server: RunningServer }> = [];
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    const config = join(temp.dir, 'soakp.yaml');
    writeFileSync(config, `rateLimits:\n  redisUrl: ${REDIS_URL}\n`);
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_CONFIG: config };
    json(await runCli(['user', 'add', 'r@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    // Two instances over one database and one Redis, as two replicas behind a load balancer.
    for (let i = 0; i < 2; i++) {
      const soakp = await Soakp.open({ logLevel: 'silent', env });
      instances.push({ soakp, server: await soakp.listen({ host: '127.0.0.1', port: 0 }) });
    }
  });

  afterAll(async () => {
    for (const { soakp, server } of instances) {
      await server.close();
      await soakp.close();
    }
    await upstream?.close();
    temp?.cleanup();
  });

  it('lets exactly 10 of 100 requests through against --rpm 10, whichever instance they reach', async () => {
    const { token } = json<{ token: string }>(await runCli(['token', 'issue', 'r@example.com', '--rpm', '10', '--json'], env));
    const before = upstream.requests.length;
    const statuses = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const { server } = instances[i % 2] as { server: RunningServer };
        return (await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status;
      }),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(90);
    expect(upstream.requests.length - before).toBe(10);
  });

  it('shares a concurrency limit across instances', async () => {
    const { token } = json<{ token: string }>(await runCli(['token', 'issue', 'r@example.com', '--concurrency', '1', '--json'], env));
    const a = instances[0] as { server: RunningServer };
    const b = instances[1] as { server: RunningServer };
    upstream.hold();
    const first = fetch(`${a.server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
    await upstream.received(upstream.requests.length + 1);
    expect((await fetch(`${b.server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(429);
    upstream.release();
    expect((await first).status).toBe(200);
  });
});
