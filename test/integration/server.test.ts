import { request as httpRequest } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Soakp } from '../../src/library.js';
import type { RunningServer } from '../../src/http/server.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

describe('the server, end to end with the openai SDK', () => {
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let temp: ReturnType<typeof tempDir>;
  const key = canaryKey();
  let token: string;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    soakp = await Soakp.open({ dataDir: temp.dir, upstreamUrl: upstream.baseUrl, logLevel: 'silent', env: { SOAKP_MASTER_KEY: randomMasterKey() } });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    token = await soakp.saveKey(key, { email: 'alice@example.com' });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  const client = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${server.url}/v1`, maxRetries: 0 });

  it('forwards a chat completion with the token swapped for the stored key', async () => {
    const before = upstream.requests.length;
    const answer = await client(token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
    expect(answer.choices[0]?.message.content).toBe('echo: hello');
    const seen = upstream.requests[before];
    expect(seen?.url).toBe('/v1/chat/completions');
    expect(seen?.headers.authorization).toBe(`Bearer ${key}`);
    expect(JSON.stringify(seen?.headers)).not.toContain(token);
  });

  it('passes the body byte for byte and the query string untouched', async () => {
    const body = '{"model":"gpt-4o-mini",  "messages":[{"role":"user","content":"héllo \\u00e9"}]}';
    const before = upstream.requests.length;
    const res = await fetch(`${server.url}/v1/chat/completions?api-version=2024-01-01&x=%20y`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(200);
    const seen = upstream.requests[before];
    expect(seen?.body.toString('utf8')).toBe(body);
    expect(seen?.url).toBe('/v1/chat/completions?api-version=2024-01-01&x=%20y');
  });

  it('lists models and makes embeddings', async () => {
    const models = await client(token).models.list();
    expect(models.data.map((m) => m.id)).toEqual(['gpt-4o-mini']);
    const emb = await client(token).embeddings.create({ model: 'text-embedding-3-small', input: 'hi' });
    expect(emb.data[0]?.embedding).toEqual([0.5, 0.25, -1]);
  });

  it('passes upstream errors through untouched, less set-cookie', async () => {
    const res = await fetch(`${server.url}/v1/fail`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(429);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(res.headers.get('x-request-id')).toBe('req_fake_1');
    expect(await res.json()).toEqual({ error: { message: 'upstream says slow down', type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null } });
  });

  it('refuses a missing, malformed or unknown token with 401 in the OpenAI envelope', async () => {
    const before = upstream.requests.length;
    const attempts: Array<Record<string, string>> = [{}, { authorization: "Basic abc" }, { authorization: "Bearer sk-soakp-nope" }, { authorization: `Bearer ${token.slice(0, -1)}x` }];
    for (const headers of attempts) {
      const res = await fetch(`${server.url}/v1/models`, { headers });
      expect(res.status).toBe(401);
      const body = (await res.json()) as { error: { type: string; code: string; message: string } };
      expect(body.error.type).toBe('authentication_error');
      expect(['missing_api_key', 'invalid_api_key']).toContain(body.error.code);
    }
    await expect(client('sk-soakp-wrong').models.list()).rejects.toMatchObject({ status: 401 });
    expect(upstream.requests.length).toBe(before);
  });

  it('answers health and readiness', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('answers unknown routes and paths that try to leave /v1 in the envelope', async () => {
    const unknown = await fetch(`${server.url}/nope`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const before = upstream.requests.length;
    // Sent raw: fetch would normalise the dot segments away before they left the client.
    for (const path of ['/v1/%2e%2e/admin', '/v1/../v1/models', '/v1/a/%2F/b', '/v1/a%5cb']) {
      const climb = await rawGet(server.url, path, { authorization: `Bearer ${token}` });
      expect(climb.status, path).toBe(400);
      expect((JSON.parse(climb.body) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    }
    expect(upstream.requests.length).toBe(before);
  });
});

function rawGet(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
