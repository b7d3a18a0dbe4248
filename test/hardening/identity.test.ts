import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { Accounts } from '../../src/admin/accounts.js';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { openRuntime, servicesOf } from '../../src/main.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const SECRET = 'open-webui-forward-secret-0123456789abcdef';
const KELVIN = '\u212A'; // KELVIN SIGN: lower-cases to an ASCII "k"
const FULLWIDTH_E = '\uFF45'; // FULLWIDTH LATIN SMALL LETTER E: NFKC makes it "e"

/** Signed as Open WebUI signs it (sub, email, name, role, iss, iat, exp), with the times given. */
function owuiJwt(email: string, times: { iat?: number; exp?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const iat = times.iat ?? now;
  return new SignJWT({ email, name: 'someone', role: 'user' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject('6f1c2a9e-0000-4000-8000-000000000002')
    .setIssuer('open-webui')
    .setIssuedAt(iat)
    .setExpirationTime(times.exp ?? iat + 300)
    .sign(Buffer.from(SECRET));
}

/**
 * One HTTP/1.1 request written byte for byte (fetch would merge repeated headers), its answer
 * read until the server closes; a 101 is returned as soon as its head arrives.
 */
function raw(url: string, head: string[], body = ''): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    let data = '';
    const done = () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1]), code: /"code":"([a-z_]+)"/.exec(data)?.[1] });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (data.startsWith('HTTP/1.1 101') && data.includes('\r\n\r\n')) {
        socket.destroy();
        done();
      }
    });
    socket.once('error', reject);
    socket.once('close', done);
    socket.write(`${[...head, 'Host: 127.0.0.1', 'Connection: close', `Content-Length: ${Buffer.byteLength(body)}`].join('\r\n')}\r\n\r\n${body}`);
  });
}

const CHAT = ['POST /v1/chat/completions HTTP/1.1', 'Content-Type: application/json'];
const CHAT_BODY = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
const upgrade = (extra: string[]) => [
  'GET /v1/realtime?model=gpt-realtime HTTP/1.1', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13',
  `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, ...extra,
];

/** An upstream that upgrades every WebSocket offering the `realtime` subprotocol. */
async function startRealtimeUpstream(): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (p) => (p.has('realtime') ? 'realtime' : false) });
  http.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, () => {}));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    baseUrl: `http://127.0.0.1:${(http.address() as AddressInfo).port}/v1`,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}

describe('identities and credentials', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let realtime: Awaited<ReturnType<typeof startRealtimeUpstream>>;
  let soakp: Soakp;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;
  let jwtKey: string;
  let alice: string;
  let bob: string;
  let admin: string;
  const keys = { alice: canaryKey(), bob: canaryKey(), kate: canaryKey(), eve: canaryKey(), legacy: canaryKey() };

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    realtime = await startRealtimeUpstream();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    const config = `${temp.dir}/soakp.yaml`;
    writeFileSync(config, `upstreams:\n  live:\n    baseUrl: ${realtime.baseUrl}\n`);
    env.SOAKP_CONFIG = config;
    jwtKey = json<{ token: string }>(await runCli(['openwebui', 'connect', '--jwt-secret-stdin', '--json'], env, SECRET)).token;
    admin = json<{ token: string }>(await runCli(['admin', 'token', '--json'], env)).token;
    // An account stored before addresses were checked for NFKC: it stays manageable, but no
    // forwarded identity reaches it.
    const rt = await openRuntime({ env });
    try {
      const accounts = new Accounts(servicesOf(rt));
      await rt.store.transaction((tx) => accounts.createIn(tx, `${FULLWIDTH_E}ve@example.com`, keys.legacy, 'default'));
    } finally {
      await rt.close();
    }
    soakp = await Soakp.open({ logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    alice = await soakp.saveKey(keys.alice, { email: 'alice@example.com' });
    bob = await soakp.saveKey(keys.bob, { email: 'bob@example.com' });
    await soakp.saveKey(keys.kate, { email: 'kate@example.com' });
    await soakp.saveKey(keys.eve, { email: 'eve@example.com' });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    await realtime?.close();
    temp?.cleanup();
  });

  const asOpenWebUI = (jwt: string) =>
    fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${jwtKey}`, 'content-type': 'application/json', 'x-openwebui-user-jwt': jwt }, body: CHAT_BODY });
  const refusal = async (res: Response) => ({ status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code });

  describe('Open WebUI JWT lifetime', () => {
    const now = () => Math.floor(Date.now() / 1000);

    it('accepts a token as Open WebUI mints it, and one issued within the clock tolerance', async () => {
      expect((await asOpenWebUI(await owuiJwt('alice@example.com'))).status).toBe(200);
      expect((await asOpenWebUI(await owuiJwt('alice@example.com', { iat: now() + 20 }))).status).toBe(200);
      expect((await asOpenWebUI(await owuiJwt('alice@example.com', { iat: now(), exp: now() + 600 }))).status).toBe(200);
    });

    it('refuses a token that lives longer than openwebui.maxTokenAge (exp ten years ahead)', async () => {
      const res = await asOpenWebUI(await owuiJwt('alice@example.com', { exp: now() + 10 * 365 * 86_400 }));
      expect(await refusal(res)).toEqual({ status: 401, code: 'invalid_api_key' });
    });

    it('refuses a token issued in the future, beyond the clock tolerance', async () => {
      const res = await asOpenWebUI(await owuiJwt('alice@example.com', { iat: now() + 3600 }));
      expect(await refusal(res)).toEqual({ status: 401, code: 'invalid_api_key' });
    });

    it('refuses a token older than openwebui.maxTokenAge, even with exp still ahead', async () => {
      const res = await asOpenWebUI(await owuiJwt('alice@example.com', { iat: now() - 3600, exp: now() + 300 }));
      expect(await refusal(res)).toEqual({ status: 401, code: 'invalid_api_key' });
    });
  });

  describe('email addresses and Unicode', () => {
    it('refuses a forwarded identity with a Kelvin sign instead of mapping it onto kate@example.com', async () => {
      const before = upstream.requests.length;
      const res = await asOpenWebUI(await owuiJwt(`${KELVIN}ate@example.com`));
      expect(await refusal(res)).toEqual({ status: 401, code: 'invalid_api_key' });
      expect(upstream.requests.length).toBe(before);
    });

    it('refuses fullwidth forwarded identities, even for an account stored under that address', async () => {
      for (const email of [`${FULLWIDTH_E}ve@example.com`, `\uFF25ve@example.com`, `\uFF25VE@EXAMPLE.COM`]) {
        expect(await refusal(await asOpenWebUI(await owuiJwt(email)))).toEqual({ status: 401, code: 'invalid_api_key' });
      }
      expect(upstream.requests.some((r) => r.headers.authorization === `Bearer ${keys.legacy}`)).toBe(false);
      // ASCII case still folds: EVE is eve.
      expect((await asOpenWebUI(await owuiJwt('EVE@Example.COM'))).status).toBe(200);
      expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${keys.eve}`);
    });

    it('refuses to create users under addresses NFKC would change, wherever an operator creates them', async () => {
      await expect(soakp.saveKey(canaryKey(), { email: `${FULLWIDTH_E}ve2@example.com` })).rejects.toMatchObject({ code: 'invalid_email' });
      await expect(soakp.saveKey(canaryKey(), { email: `${KELVIN}ate@example.com` })).rejects.toMatchObject({ code: 'invalid_email' });
      const cli = await runCli(['user', 'add', `${FULLWIDTH_E}ve3@example.com`, '--key', canaryKey(), '--json'], env);
      expect(cli.code).not.toBe(0);
      expect(cli.stderr).toMatch(/NFKC/);
      const file = `${temp.dir}/import.json`;
      writeFileSync(file, JSON.stringify([{ email: 'plain@example.com', key: canaryKey() }, { email: `\uFF50lain2@example.com`, key: canaryKey() }]));
      const imported = await runCli(['import', file, '--json'], env);
      expect(imported.code).toBe(2);
      expect(imported.stderr).toMatch(/entry 2: .*NFKC/);
      const api = await fetch(`${server.url}/api/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ key: canaryKey(), email: `${KELVIN}ate@example.com` }),
      });
      expect(api.status).toBe(400);
      expect(((await api.json()) as { error: { code: string } }).error.code).toBe('invalid_email');
    });

    it('still finds an account stored before the check, so it can be managed', async () => {
      const shown = await runCli(['user', 'disable', `${FULLWIDTH_E}ve@example.com`, '--json'], env);
      expect(shown.code).toBe(0);
    });
  });

  describe('duplicate credentials', () => {
    it('refuses two different Authorization headers', async () => {
      const res = await raw(server.url, [...CHAT, `Authorization: Bearer ${alice}`, `authorization: Bearer ${bob}`], CHAT_BODY);
      expect(res).toEqual({ status: 401, code: 'conflicting_credentials' });
    });

    it('accepts the same credential repeated, in one header or several', async () => {
      expect((await raw(server.url, [...CHAT, `Authorization: Bearer ${alice}`, `Authorization: Bearer ${alice}`], CHAT_BODY)).status).toBe(200);
      expect((await raw(server.url, [...CHAT, `Authorization: Bearer ${alice}`, `api-key: ${alice}`, `X-Api-Key: ${alice}`], CHAT_BODY)).status).toBe(200);
    });

    it('refuses different credentials across api-key and x-api-key, repeated or not', async () => {
      expect(await raw(server.url, [...CHAT, `api-key: ${alice}`, `api-key: ${bob}`], CHAT_BODY)).toEqual({ status: 401, code: 'conflicting_credentials' });
      expect(await raw(server.url, [...CHAT, `x-api-key: ${alice}`, `Authorization: Bearer ${bob}`], CHAT_BODY)).toEqual({ status: 401, code: 'conflicting_credentials' });
    });

    it('refuses two different Authorization headers on the admin API', async () => {
      const res = await raw(server.url, ['POST /api/keys HTTP/1.1', 'Content-Type: application/json', `Authorization: Bearer ${admin}`, `Authorization: Bearer ${bob}`], JSON.stringify({ key: canaryKey() }));
      expect(res).toEqual({ status: 401, code: 'conflicting_credentials' });
    });

    it('refuses a realtime subprotocol key that differs from the Authorization header', async () => {
      const live = await soakp.saveKey(canaryKey(), { email: 'live@example.com', upstream: 'live' });
      const other = await soakp.saveKey(canaryKey(), { email: 'live2@example.com', upstream: 'live' });
      const ok = await raw(server.url, upgrade([`Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.${live}`, `Authorization: Bearer ${live}`]));
      expect(ok.status).toBe(101);
      const conflicting = await raw(server.url, upgrade([`Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.${live}`, `Authorization: Bearer ${other}`]));
      expect(conflicting).toEqual({ status: 401, code: 'conflicting_credentials' });
      const twoKeys = await raw(server.url, upgrade([`Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.${live}`, `Sec-WebSocket-Protocol: openai-insecure-api-key.${other}`]));
      expect(twoKeys).toEqual({ status: 401, code: 'conflicting_credentials' });
    });
  });
});

describe('Open WebUI JWT lifetime, as configured', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let jwtKey: string;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    const config = `${temp.dir}/soakp.yaml`;
    writeFileSync(config, 'openwebui:\n  maxTokenAge: 1h\n  clockTolerance: 2m\n');
    const env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_CONFIG: config };
    jwtKey = json<{ token: string }>(await runCli(['openwebui', 'connect', '--jwt-secret-stdin', '--json'], env, SECRET)).token;
    soakp = await Soakp.open({ logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    await soakp.saveKey(canaryKey(), { email: 'alice@example.com' });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  const status = async (times: { iat?: number; exp?: number }) =>
    (await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${jwtKey}`, 'content-type': 'application/json', 'x-openwebui-user-jwt': await owuiJwt('alice@example.com', times) }, body: CHAT_BODY })).status;

  it('follows openwebui.maxTokenAge and openwebui.clockTolerance', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect(await status({ iat: now, exp: now + 3000 })).toBe(200);
    expect(await status({ iat: now + 90 })).toBe(200);
    expect(await status({ iat: now, exp: now + 7200 })).toBe(401);
    expect(await status({ iat: now + 600 })).toBe(401);
  });
});
