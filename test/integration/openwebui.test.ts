import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const SECRET = 'open-webui-forward-secret-0123456789abcdef';

/** A token exactly as Open WebUI mints it (backend/open_webui/utils/headers.py). */
function owuiJwt(email: string, overrides: { secret?: string; iss?: string; exp?: number; alg?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ email, name: email.split('@')[0], role: 'user' })
    .setProtectedHeader({ alg: overrides.alg ?? 'HS256', typ: 'JWT' })
    .setSubject('6f1c2a9e-0000-4000-8000-000000000001')
    .setIssuer(overrides.iss ?? 'open-webui')
    .setIssuedAt(now)
    .setExpirationTime(overrides.exp ?? now + 300)
    .sign(Buffer.from(overrides.secret ?? SECRET));
}

describe('Open WebUI as a trusted front end', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;
  const keys = { alice: canaryKey(), bob: canaryKey(), admin: canaryKey() };
  let jwtKey: string; // connection key verifying the signed JWT
  let emailKey: string; // connection key trusting the plain email header
  let personal: string; // bob's personal token

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    json(await runCli(['user', 'add', 'alice@example.com', '--key-stdin', '--no-token', '--json'], env, keys.alice));
    personal = json<{ token: string }>(await runCli(['user', 'add', 'bob@example.com', '--key-stdin', '--json'], env, keys.bob)).token;
    json(await runCli(['user', 'add', 'admin@example.com', '--key-stdin', '--no-token', '--json'], env, keys.admin));
    json(await runCli(['user', 'add', 'carol@example.com', '--key', canaryKey(), '--no-token', '--json'], env));
    json(await runCli(['user', 'disable', 'carol@example.com', '--json'], env));
    jwtKey = json<{ token: string }>(await runCli(['openwebui', 'connect', '--jwt-secret-stdin', '--models-user', 'admin@example.com', '--json'], env, SECRET)).token;
    emailKey = json<{ token: string }>(await runCli(['openwebui', 'connect', '--trust-email-header', '--json'], env)).token;
    soakp = await Soakp.open({ logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  const call = (headers: Record<string, string>, path = '/v1/chat/completions') =>
    fetch(`${server.url}${path}`, {
      method: path.endsWith('models') ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      ...(path.endsWith('models') ? {} : { body: '{"model":"m","messages":[{"role":"user","content":"hi"}]}' }),
    });
  const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

  it('acts for the user named in a valid X-OpenWebUI-User-Jwt, and strips every identity header', async () => {
    const res = await call({ authorization: `Bearer ${jwtKey}`, 'x-openwebui-user-jwt': await owuiJwt('Alice@Example.com'), 'x-openwebui-chat-id': 'chat-1', 'x-openwebui-message-id': 'm-1' });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1);
    expect(seen?.headers.authorization).toBe(`Bearer ${keys.alice}`);
    expect(Object.keys(seen?.headers ?? {}).filter((h) => h.includes('openwebui'))).toEqual([]);
  });

  it('refuses a JWT with a wrong signature, issuer, algorithm or expiry', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const jwt of [
      await owuiJwt('alice@example.com', { secret: 'another-secret-another-secret-0123456789' }),
      await owuiJwt('alice@example.com', { iss: 'evil' }),
      await owuiJwt('alice@example.com', { exp: now - 10 }),
      await owuiJwt('alice@example.com', { alg: 'HS512' }),
      `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ email: 'alice@example.com', iss: 'open-webui', sub: 'x', iat: now, exp: now + 60 })).toString('base64url')}.`,
      'not-a-jwt',
    ]) {
      const res = await call({ authorization: `Bearer ${jwtKey}`, 'x-openwebui-user-jwt': jwt });
      expect(res.status).toBe(401);
      expect(await errorCode(res)).toBe('invalid_api_key');
    }
  });

  it('refuses unknown users (401) and disabled users (403)', async () => {
    expect((await call({ authorization: `Bearer ${jwtKey}`, 'x-openwebui-user-jwt': await owuiJwt('stranger@example.com') })).status).toBe(401);
    expect((await call({ authorization: `Bearer ${jwtKey}`, 'x-openwebui-user-jwt': await owuiJwt('carol@example.com') })).status).toBe(403);
  });

  it('accepts the plain email header only where the operator allowed it', async () => {
    const jwtOnly = await call({ authorization: `Bearer ${jwtKey}`, 'x-openwebui-user-email': 'alice@example.com' });
    expect(jwtOnly.status).toBe(401);
    const allowed = await call({ authorization: `Bearer ${emailKey}`, 'X-OpenWebUI-User-Email': 'alice@example.com', 'x-openwebui-user-name': 'Alice' });
    expect(allowed.status).toBe(200);
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${keys.alice}`);
  });

  it('never trusts identity headers without the connection key', async () => {
    const before = upstream.requests.length;
    // A forged header from a direct client: no key at all.
    expect((await call({ 'x-openwebui-user-email': 'alice@example.com' })).status).toBe(401);
    expect((await call({ 'x-openwebui-user-jwt': await owuiJwt('alice@example.com') })).status).toBe(401);
    expect(upstream.requests.length).toBe(before);
    // With a personal token the headers count for nothing: bob stays bob, and they are stripped.
    const res = await call({ authorization: `Bearer ${personal}`, 'x-openwebui-user-email': 'alice@example.com', 'x_openwebui_user_email': 'alice@example.com' });
    expect(res.status).toBe(200);
    const seen = upstream.requests.at(-1);
    expect(seen?.headers.authorization).toBe(`Bearer ${keys.bob}`);
    expect(Object.keys(seen?.headers ?? {}).filter((h) => h.includes('openwebui'))).toEqual([]);
  });

  it("answers Open WebUI's identity-less model listing with the models user's key, and nothing else", async () => {
    const models = await call({ authorization: `Bearer ${jwtKey}` }, '/v1/models');
    expect(models.status).toBe(200);
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${keys.admin}`);
    const chat = await call({ authorization: `Bearer ${jwtKey}` });
    expect(chat.status).toBe(401);
    expect(((await chat.json()) as { error: { message: string } }).error.message).toMatch(/ENABLE_FORWARD_USER_INFO_HEADERS/);
    expect((await call({ authorization: `Bearer ${emailKey}` }, '/v1/models')).status).toBe(401);
  });

  it('stops a revoked connection key within a second', async () => {
    const key = json<{ token: string; tokenId: string }>(await runCli(['openwebui', 'connect', '--trust-email-header', '--json'], env));
    expect((await call({ authorization: `Bearer ${key.token}`, 'x-openwebui-user-email': 'alice@example.com' })).status).toBe(200);
    json(await runCli(['token', 'revoke', key.tokenId, '--json'], env));
    const deadline = Date.now() + 3000;
    let status = 200;
    while (Date.now() < deadline && status !== 401) {
      status = (await call({ authorization: `Bearer ${key.token}`, 'x-openwebui-user-email': 'alice@example.com' })).status;
    }
    expect(status).toBe(401);
  });

  it('refuses to create a connection that trusts nothing, or with a short secret', async () => {
    expect((await runCli(['openwebui', 'connect'], env)).code).toBe(2);
    expect((await runCli(['openwebui', 'connect', '--jwt-secret', 'short'], env)).code).toBe(2);
    const list = await runCli(['openwebui', 'list', '--json'], env);
    expect(list.stdout).not.toContain(SECRET);
    expect(list.stdout).not.toContain(jwtKey);
  });
});
