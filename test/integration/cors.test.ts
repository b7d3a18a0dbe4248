import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const APP = 'https://app.example.com';

describe('CORS on the data plane: preflights answered by soakp, answers readable by allowed pages', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let token: string;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    const env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_CORS_ORIGINS: `${APP},https://*.example.org` };
    ({ token } = json<{ token: string }>(await runCli(['user', 'add', 'p@example.com', '--key-stdin', '--json'], env, canaryKey())));
    soakp = await Soakp.open({ logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  const preflight = (origin: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', ...headers } });
  const corsHeaders = (res: Response) => [...res.headers.keys()].filter((k) => k.startsWith('access-control-'));

  it('answers an allowed preflight itself: 204, the origin echoed, the SDK\'s headers, never forwarded', async () => {
    const before = upstream.requests.length;
    const res = await preflight(APP, { 'access-control-request-headers': 'authorization, content-type, x-stainless-os, x-stainless-retry-count, openai-beta, x-evil', 'access-control-request-private-network': 'true' });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, PUT, PATCH, DELETE, HEAD');
    expect(res.headers.get('access-control-allow-headers')).toBe('authorization, content-type, x-stainless-os, x-stainless-retry-count, openai-beta');
    expect(res.headers.get('access-control-max-age')).toBe('600');
    expect(res.headers.get('access-control-allow-private-network')).toBe('true');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toBe('Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    expect(await res.text()).toBe('');
    expect((await preflight('https://a.b.example.org')).status).toBe(204);
    expect(upstream.requests.length).toBe(before);
  });

  it('refuses a preflight from any other origin with 403 and no CORS headers', async () => {
    for (const origin of ['https://evil.example.com', 'https://example.org', 'null', 'http://app.example.com', 'https://app.example.com:8443']) {
      const res = await preflight(origin);
      expect(res.status, origin).toBe(403);
      expect(corsHeaders(res)).toEqual([]);
      expect(res.headers.get('vary')).toBe('Origin');
      const body = (await res.json()) as { error: { code: string; type: string; message: string } };
      expect(body.error).toMatchObject({ code: 'origin_not_allowed', type: 'permission_error' });
      expect(body.error.message).toContain('--cors-origins');
    }
  });

  it('lets an allowed page read answers, errors included, and says that answers vary by Origin', async () => {
    const ok = await fetch(`${server.url}/v1/models`, { headers: { origin: APP, authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP);
    expect(ok.headers.get('access-control-expose-headers')).toContain('x-ratelimit-remaining-requests');
    expect(ok.headers.get('access-control-expose-headers')).toContain('x-request-id');
    expect(ok.headers.get('vary')).toContain('Origin');
    const denied = await fetch(`${server.url}/v1/models`, { headers: { origin: APP, authorization: 'Bearer sk-soakp-nope' } });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe(APP);
    const other = await fetch(`${server.url}/v1/models`, { headers: { origin: 'https://evil.example.com', authorization: `Bearer ${token}` } });
    expect(corsHeaders(other)).toEqual([]);
    expect(other.headers.get('vary')).toContain('Origin');
    const server2server = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
    expect(server2server.status).toBe(200);
    expect(corsHeaders(server2server)).toEqual([]);
  });

  it('streams to an allowed page with the CORS headers on the stream', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST', headers: { origin: APP, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(await res.text()).toContain('data: [DONE]');
  });

  it('still forwards an OPTIONS that is not a preflight (no Access-Control-Request-Method) as a request', async () => {
    const res = await fetch(`${server.url}/v1/models`, { method: 'OPTIONS', headers: { origin: APP } });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
  });

  it('has config check explain a wrong origin pattern', async () => {
    const r = await runCli(['config', 'check'], { SOAKP_DATA_DIR: temp.dir, SOAKP_CORS_ORIGINS: 'https://app.example.com,*,https://*.com' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('cors.origins: "*" would let every web site spend this server\'s keys');
    expect(r.stderr).toContain('"https://*.com" is too wide');
    expect(r.stderr).toContain('from SOAKP_CORS_ORIGINS');
  });
});
