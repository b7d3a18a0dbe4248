import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

/** Writes raw bytes to the proxy and reads until it closes the connection or 5 s pass. */
function raw(url: string, bytes: string | Buffer, options: { endAfterWrite?: boolean } = {}): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`${out}<<timeout>>`);
    }, 5000);
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('error', (e) => (out ? undefined : reject(e)));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.write(bytes);
    if (options.endAfterWrite) socket.end();
  });
}

const statusOf = (response: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);

describe('bad input gets a clear 4xx, never a 5xx, a hang or a key sent astray', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let token: string;
  const key = canaryKey();

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    const config = join(temp.dir, 'soakp.yaml');
    writeFileSync(config, 'limits:\n  headersTimeout: 1s\n');
    soakp = await Soakp.open({ config, dataDir: temp.dir, upstreamUrl: upstream.baseUrl, logLevel: 'silent', env: { SOAKP_MASTER_KEY: randomMasterKey() } });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    token = await soakp.saveKey(key, { email: 'alice@example.com' });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  it('refuses request smuggling shapes: CL with TE, conflicting Content-Lengths', async () => {
    const before = upstream.requests.length;
    const auth = `Authorization: Bearer ${token}\r\n`;
    const cases = [
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`,
      `GET /v1/models HTTP/1.1\r\nHost: x\r\n${auth}X-Bad: a\u0000b\r\n\r\n`,
    ];
    for (const request of cases) {
      const res = await raw(server.url, request);
      expect(statusOf(res), JSON.stringify(request)).toBe(400);
      expect(JSON.parse(res.slice(res.indexOf('\r\n\r\n') + 4))).toEqual({ error: { message: 'The request is not valid HTTP/1.1.', type: 'invalid_request_error', code: 'invalid_request', param: null } });
    }
    expect(upstream.requests.length).toBe(before);
  });

  it('answers 401 to huge, SQL-shaped and malformed tokens without touching the upstream', async () => {
    const before = upstream.requests.length;
    const payloads = [
      `sk-soakp-${'A'.repeat(10_240)}`,
      "' OR 1=1 --",
      "sk-soakp-' OR '1'='1",
      "\"; DROP TABLE tokens; --",
      'sk-soakp-' + 'a'.repeat(50),
      token.toLowerCase(),
      `${token} ${token}`,
    ];
    for (const bad of payloads) {
      const res = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${bad}` } });
      expect(res.status, bad.slice(0, 30)).toBe(401);
      const text = await res.text();
      expect(text).not.toContain(bad.slice(0, 40));
    }
    expect(upstream.requests.length).toBe(before);
    // The token table survived every payload: the real token still works.
    expect((await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('times out a client that never finishes its headers (slowloris) with 408', async () => {
    const res = await raw(server.url, `GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n`);
    expect(statusOf(res)).toBe(408);
    expect(res).toContain('"code":"request_timeout"');
  });

  it('removes credentials, cookies, identity, forwarding and hop-by-hop headers in every spelling', async () => {
    const request =
      `POST /v1/chat/completions HTTP/1.1\r\nHost: evil.example\r\n` +
      `AUTHORIZATION: Bearer ${token}\r\napi-key: ${token}\r\nCookie: session=1\r\n` +
      `X-OpenWebUI-User-Email: alice@example.com\r\nx_openwebui_user_id: 1\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: evil\r\n` +
      `Forwarded: for=10.0.0.1\r\nX-Real-IP: 10.0.0.1\r\nConnection: close, X-Hop-Secret\r\nX-Hop-Secret: s\r\nKeep-Alive: timeout=5\r\n` +
      `Proxy-Authorization: Basic x\r\nTE: trailers\r\nOpenAI-Beta: assistants=v2\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`;
    const res = await raw(server.url, request, { endAfterWrite: false });
    expect(statusOf(res)).toBe(200);
    const seen = upstream.requests.at(-1)?.headers ?? {};
    for (const name of ['cookie', 'api-key', 'x-openwebui-user-email', 'x_openwebui_user_id', 'x-forwarded-for', 'x-forwarded-host', 'forwarded', 'x-real-ip', 'x-hop-secret', 'keep-alive', 'proxy-authorization', 'te']) {
      expect(seen[name], name).toBeUndefined();
    }
    expect(seen.authorization).toBe(`Bearer ${key}`);
    expect(seen.host).toBe(new URL(upstream.baseUrl).host);
    expect(seen['openai-beta']).toBe('assistants=v2');
  });
});
