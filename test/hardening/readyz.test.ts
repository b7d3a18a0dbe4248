import { writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { REDIS_URL, redisAvailable } from '../helpers/services.js';
import { randomMasterKey, tempDir } from '../helpers/temp.js';

/** A loopback port nobody listens on: Redis "down" without touching the shared one. */
async function unusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const REDIS_UP = await redisAvailable('/readyz with a reachable Redis');

describe('/readyz reports every dependency that refuses requests while it is down', () => {
  let temp: ReturnType<typeof tempDir>;
  const open: Array<{ soakp: Soakp; server: RunningServer }> = [];
  const masterKey = randomMasterKey();

  async function serve(rateLimits: string): Promise<string> {
    const config = join(temp.dir, `soakp-${open.length}.yaml`);
    writeFileSync(config, `rateLimits:\n${rateLimits}`);
    const soakp = await Soakp.open({ config, dataDir: temp.dir, logLevel: 'silent', env: { SOAKP_MASTER_KEY: masterKey } });
    const server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    open.push({ soakp, server });
    return server.url;
  }

  beforeAll(() => {
    temp = tempDir();
  });
  afterAll(async () => {
    for (const { soakp, server } of open) {
      await server.close();
      await soakp.close();
    }
    temp?.cleanup();
  });

  it('answers 503 while fail-closed limits cannot reach Redis, naming it', async () => {
    const url = await serve(`  redisUrl: redis://127.0.0.1:${await unusedPort()}\n`);
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: 'unavailable', failing: ['redis'] });
    expect((await fetch(`${url}/healthz`)).status).toBe(200); // alive, only not ready
  });

  it('stays ready with failOpen: limits then let requests through without Redis', async () => {
    const url = await serve(`  redisUrl: redis://127.0.0.1:${await unusedPort()}\n  failOpen: true\n`);
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready' });
  });

  it.runIf(REDIS_UP)('is ready when Redis answers (a first connection under way is waited for)', async () => {
    const url = await serve(`  redisUrl: ${REDIS_URL}\n`);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });
});
