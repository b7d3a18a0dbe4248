import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

// The CLI runs in another process against the same database as a running server: its
// changes must take effect there within a second (INTERFACE.md). Each check polls with a
// bounded deadline instead of sleeping a fixed time.
async function eventually(check: () => Promise<boolean>, deadlineMs = 3000): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}

describe('changes made by the CLI reach a running server', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    soakp = await Soakp.open({ logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  const status = async (token: string) => (await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status;

  it('a token issued by the CLI works; revoking it stops it', async () => {
    const added = json<{ token: string; tokenId: string }>(await runCli(['user', 'add', 'carol@example.com', '--key-stdin', '--json'], env, canaryKey()));
    expect(await status(added.token)).toBe(200);
    json(await runCli(['token', 'revoke', added.tokenId, '--json'], env));
    expect(await eventually(async () => (await status(added.token)) === 401)).toBe(true);
  });

  it('disabling a user stops their tokens; enabling brings them back', async () => {
    const added = json<{ token: string }>(await runCli(['user', 'add', 'dave@example.com', '--key-stdin', '--json'], env, canaryKey()));
    expect(await status(added.token)).toBe(200);
    json(await runCli(['user', 'disable', 'dave@example.com', '--json'], env));
    expect(await eventually(async () => (await status(added.token)) === 403)).toBe(true);
    json(await runCli(['user', 'enable', 'dave@example.com', '--json'], env));
    expect(await eventually(async () => (await status(added.token)) === 200)).toBe(true);
  });

  it('replacing a key makes the same token use the new key', async () => {
    const first = canaryKey();
    const second = canaryKey();
    const added = json<{ token: string }>(await runCli(['user', 'add', 'erin@example.com', '--key-stdin', '--json'], env, first));
    expect(await status(added.token)).toBe(200);
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${first}`);
    json(await runCli(['key', 'set', 'erin@example.com', '--key-stdin', '--json'], env, second));
    const usesSecond = async () => (await status(added.token)) === 200 && upstream.requests.at(-1)?.headers.authorization === `Bearer ${second}`;
    expect(await eventually(usesSecond)).toBe(true);
  });

  it('deleting a user stops their tokens', async () => {
    const added = json<{ token: string }>(await runCli(['user', 'add', 'frank@example.com', '--key-stdin', '--json'], env, canaryKey()));
    expect(await status(added.token)).toBe(200);
    json(await runCli(['user', 'del', 'frank@example.com', '--json'], env));
    expect(await eventually(async () => (await status(added.token)) === 401)).toBe(true);
  });

  it('POST /api/keys saves a key with an admin token and answers 201 {token, tokenId}', async () => {
    const admin = json<{ token: string }>(await runCli(['admin', 'token', '--json'], env));
    const key = canaryKey();
    const post = (auth: string | undefined, body: unknown) =>
      fetch(`${server.url}/api/keys`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const res = await post(admin.token, { key, email: 'gina@example.com' });
    expect(res.status).toBe(201);
    const saved = (await res.json()) as { token: string; tokenId: string };
    expect(saved.token).toMatch(/^sk-soakp-/);
    expect(saved.tokenId).toMatch(/^tok_/);
    expect(JSON.stringify(saved)).not.toContain(key);
    expect(await status(saved.token)).toBe(200);
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${key}`);

    // Refusals: no admin token, a personal token, a bad body, malformed JSON — nothing stored.
    const usersBefore = json<unknown[]>(await runCli(['user', 'list', '--json'], env)).length;
    expect((await post(undefined, { key })).status).toBe(401);
    expect((await post(saved.token, { key })).status).toBe(401);
    for (const bad of [{}, { key: '' }, { key, extra: 1 }, { key: 5 }, '{"key": "sk-', 'null']) {
      const r = await post(admin.token, bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(((await r.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    }
    const named = (await (await post(admin.token, { key, extra: 1 })).json()) as { error: { message: string } };
    expect(named.error.message).toMatch(/^Invalid request body: extra: /);
    expect((await post(admin.token, { key, email: 'not-an-email' })).status).toBe(400);
    expect((await post(admin.token, { key, upstream: 'nowhere' })).status).toBe(404);
    expect(json<unknown[]>(await runCli(['user', 'list', '--json'], env)).length).toBe(usersBefore);
  });
});
