import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const APP = 'https://app.example.com';


describe('origin-bound tokens: usable only from their pages, and they open CORS for those pages', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    // No global CORS list: origin-bound tokens alone open it. Addresses from X-Forwarded-For (per-IP limits).
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_TRUST_PROXY: '127.0.0.1/32' };
    json(await runCli(['user', 'add', 'p@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    soakp = await Soakp.open({ logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  const issue = async (...options: string[]) => json<{ token: string; tokenId: string; origins: string[] | null }>(await runCli(['token', 'issue', 'p@example.com', ...options, '--json'], env));
  const preflight = (origin: string) => fetch(`${server.url}/v1/models`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' } });
  const models = (token: string, headers: Record<string, string> = {}) => fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

  it('opens preflights for a new token\'s origins within a second, and closes them when it is revoked', async () => {
    expect((await preflight('https://shop.example.net')).status).toBe(403);
    const { token, tokenId, origins } = await issue('--origins', 'https://Shop.Example.net:443,https://*.example.net');
    expect(origins).toEqual(['https://shop.example.net', 'https://*.example.net']);
    await eventually(async () => (await preflight('https://shop.example.net')).status === 204);
    expect((await preflight('https://a.b.example.net')).status).toBe(204);
    expect((await preflight('https://example.net')).status).toBe(403);
    expect((await models(token, { origin: 'https://shop.example.net' })).status).toBe(200);
    expect((await runCli(['token', 'revoke', tokenId], env)).code).toBe(0);
    await eventually(async () => (await preflight('https://shop.example.net')).status === 403);
  });

  it('refuses the token from another origin and, unless allowed, from no origin at all', async () => {
    const { token } = await issue('--origins', APP);
    const before = upstream.requests.length;
    const ok = await models(token, { origin: APP });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP);
    const elsewhere = await models(token, { origin: 'https://evil.example.com' });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
    expect(await code(elsewhere)).toBe('origin_not_allowed');
    const curl = await models(token);
    expect(curl.status).toBe(403);
    expect(await code(curl)).toBe('origin_required');
    expect(upstream.requests.length - before).toBe(1);
    const relaxed = await issue('--origins', APP, '--allow-no-origin');
    expect((await models(relaxed.token)).status).toBe(200);
    expect(await code(await models(relaxed.token, { origin: 'https://evil.example.com' }))).toBe('origin_not_allowed');
  });

  it('limits requests per client address with --rpm-per-ip, each address on its own', async () => {
    const { token } = await issue('--origins', APP, '--rpm-per-ip', '2');
    const from = (ip: string) => models(token, { origin: APP, 'x-forwarded-for': ip });
    expect((await from('203.0.113.1')).status).toBe(200);
    expect((await from('203.0.113.1')).status).toBe(200);
    const third = await from('203.0.113.1');
    expect(third.status).toBe(429);
    expect(third.headers.get('access-control-allow-origin')).toBe(APP); // the page can read why
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await third.json()) as { error: { message: string } }).error.message).toContain('token from your address');
    expect((await from('203.0.113.2')).status).toBe(200);
  });

  it('refuses bad origins when issuing, naming each', async () => {
    const r = await runCli(['token', 'issue', 'p@example.com', '--origins', '*,https://x.example.com/path'], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('"*" would let every web site');
    expect(r.stderr).toContain('is not an origin');
    const lone = await runCli(['token', 'issue', 'p@example.com', '--allow-no-origin'], env);
    expect(lone.stderr).toContain('--allow-no-origin goes with --origins');
  });
});
