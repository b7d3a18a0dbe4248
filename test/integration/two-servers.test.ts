import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerHandle, createServer } from '../../src/index.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

/** Two servers in one process share nothing by accident: data, limits, tokens, shutdown. */
describe('two createServer() calls in one process', () => {
  const temps = [tempDir(), tempDir()];
  let upstream: FakeUpstream;
  const servers: ServerHandle[] = [];
  const tokens: string[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    for (const temp of temps) {
      const env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
      json(await runCli(['user', 'add', 'two@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
      tokens.push(json<{ token: string }>(await runCli(['token', 'issue', 'two@example.com', '--rpm', '3', '--json'], env)).token);
      servers.push(await createServer({ env, host: '127.0.0.1', port: 0, logLevel: 'silent' }));
    }
  });
  afterAll(async () => {
    for (const s of servers) await s.close().catch(() => undefined);
    await upstream?.close();
    for (const t of temps) t.cleanup();
  });

  const models = (server: ServerHandle, token: string) => fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });

  it('keeps their vaults and rate limits apart, and closing one leaves the other serving', async () => {
    const [a, b] = servers as [ServerHandle, ServerHandle];
    const [ta, tb] = tokens as [string, string];
    expect((await models(a, tb)).status).toBe(401); // B's token means nothing to A
    expect((await models(b, ta)).status).toBe(401);
    // Each server counts its own token's requests: 3 a minute on A do not use up B's.
    for (let i = 0; i < 3; i++) expect((await models(a, ta)).status).toBe(200);
    expect((await models(a, ta)).status).toBe(429);
    for (let i = 0; i < 3; i++) expect((await models(b, tb)).status).toBe(200);
    await a.close();
    await expect(fetch(`${a.url}/healthz`)).rejects.toThrow();
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
    expect((await models(b, tb)).status).toBe(429); // B's own limit, still counting
  });
});
