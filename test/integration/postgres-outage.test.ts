import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { freshSchema, postgresAvailable } from '../helpers/postgres.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const available = await postgresAvailable('PostgreSQL outage');


/** The server reaches PostgreSQL through a relay the test cuts, as a network outage would. */
describe.runIf(available)('a PostgreSQL outage', () => {
  const temp = tempDir();
  let upstream: FakeUpstream;
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
  let soakp: Soakp;
  let server: RunningServer;
  let direct: NodeJS.ProcessEnv;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    schema = await freshSchema();
    const url = new URL(schema.url);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    const relayed = new URL(schema.url);
    relayed.port = String(proxy.port);
    const base = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    direct = { ...base, SOAKP_DATABASE_URL: schema.url };
    json(await runCli(['user', 'add', 'o@example.com', '--key-stdin', '--no-token', '--json'], direct, canaryKey()));
    soakp = await Soakp.open({ logLevel: 'silent', env: { ...base, SOAKP_DATABASE_URL: relayed.toString() } });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await proxy?.close();
    await upstream?.close();
    await schema?.drop();
    temp.cleanup();
  });

  const issue = async () => json<{ token: string; tokenId: string }>(await runCli(['token', 'issue', 'o@example.com', '--json'], direct));
  const models = (token: string) => fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });

  it('keeps known callers served, refuses what needs the database with 503, and reloads everything once it is back', async () => {
    const known = await issue();
    const revoked = await issue();
    const unseen = await issue();
    expect((await models(known.token)).status).toBe(200);
    expect((await models(revoked.token)).status).toBe(200);
    const served = upstream.requests.length;

    await proxy.cut();
    expect((await models(known.token)).status).toBe(200); // answered from the caches
    const fresh = await models(unseen.token);
    expect(fresh.status).toBe(503);
    expect(((await fresh.json()) as { error: { code: string } }).error.code).toBe('store_unavailable');
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', failing: ['store'] });
    // Revoked meanwhile, by the CLI on the database itself: this server cannot hear of it yet.
    expect((await runCli(['token', 'revoke', revoked.tokenId], direct)).code).toBe(0);

    await proxy.restore();
    // Notifications are not replayed: the reconnected listener reloads every cache.
    await eventually(async () => (await models(revoked.token)).status === 401, 15_000);
    expect((await models(unseen.token)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    // The usage of requests served during the outage was kept and written once it was back.
    const usage = async () => json<Array<{ requests: number }>>(await runCli(['usage', '--by', 'user', '--json'], direct))[0]?.requests ?? 0;
    await eventually(async () => (await usage()) >= upstream.requests.length - served + 2, 10_000);
  }, 60_000);
});
