import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const APP = 'https://app.example.com';

describe('short-lived tokens minted by an app\'s server', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    const config = join(temp.dir, 'soakp.yaml');
    writeFileSync(config, 'ephemeralTokens:\n  maxTtl: 30m\n  mintsPerMinute: 12\n');
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_CONFIG: config };
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

  const issue = async (...options: string[]) => json<{ token: string; tokenId: string; kind: string }>(await runCli(['token', 'issue', 'p@example.com', ...options, '--json'], env));
  const mint = (minting: string, body?: unknown) =>
    fetch(`${server.url}/api/tokens/ephemeral`, { method: 'POST', headers: { authorization: `Bearer ${minting}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
  const minted = async (minting: string, body?: unknown) => {
    const res = await mint(minting, body);
    expect(res.status, await res.clone().text()).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    return (await res.json()) as { token: string; tokenId: string; expiresAt: string };
  };
  const chat = (token: string, model: string, origin = APP) =>
    fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { origin, authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
  const error = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

  it('mints a token bound to the minting token\'s origins, for ten minutes by default; the minting token itself cannot call /v1', async () => {
    const parent = await issue('--mint', '--origins', `${APP},https://*.example.org`);
    expect(parent.kind).toBe('mint');
    const refused = await chat(parent.token, 'gpt-4o-mini');
    expect(refused.status).toBe(403);
    expect((await error(refused)).code).toBe('mint_only');
    const before = Date.now();
    const { token, expiresAt } = await minted(parent.token);
    expect(token).toMatch(/^sk-soakp-/);
    expect(Date.parse(expiresAt) - before).toBeGreaterThan(590_000);
    expect(Date.parse(expiresAt) - before).toBeLessThan(610_000);
    expect((await chat(token, 'gpt-4o-mini')).status).toBe(200);
    expect((await error(await chat(token, 'gpt-4o-mini', 'https://evil.example.com'))).code).toBe('origin_not_allowed');
    const narrow = await minted(parent.token, { ttl: 120, origins: ['https://a.example.org'] });
    expect((await chat(narrow.token, 'x', 'https://a.example.org')).status).toBe(200);
    expect((await error(await chat(narrow.token, 'x', APP))).code).toBe('origin_not_allowed');
  });

  it('never mints wider than the minting token: origins, models and lifetime are checked', async () => {
    const parent = await issue('--mint', '--origins', APP, '--models', 'gpt-4o*');
    const cases: Array<[unknown, string]> = [
      [{ origins: ['https://evil.example.com'] }, 'is not among the minting token\'s origins'],
      [{ origins: ['*'] }, 'would let every web site'],
      [{ models: ['o3'] }, 'outside the minting token\'s models'],
      [{ models: ['*'] }, 'outside the minting token\'s models'],
      [{ ttl: '31m' }, 'ttl must be from 1 second to 30 minutes'],
      [{ ttl: 0 }, 'ttl must be from 1 second'],
      [{ ttl: 'soon' }, 'is not a duration'],
      [{ scopes: ['admin'] }, 'Invalid request body'],
    ];
    for (const [body, message] of cases) {
      const res = await mint(parent.token, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await error(res)).message).toContain(message);
    }
    const { token } = await minted(parent.token, { models: ['gpt-4o-mini'] });
    expect((await chat(token, 'gpt-4o-mini')).status).toBe(200);
    expect((await error(await chat(token, 'gpt-4o'))).code).toBe('model_not_allowed');
  });

  it('checks the models a token was minted for on top of the current scopes: a user scope set later narrows it too', async () => {
    json(await runCli(['user', 'add', 'q@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    const parent = json<{ token: string }>(await runCli(['token', 'issue', 'q@example.com', '--mint', '--origins', APP, '--json'], env));
    const { token } = await minted(parent.token, { models: ['*'] });
    expect((await chat(token, 'o3-pro')).status).toBe(200);
    expect((await runCli(['user', 'limits', 'q@example.com', '--models', 'gpt-4o-mini'], env)).code).toBe(0);
    const until = Date.now() + 5_000;
    let last: Response;
    while ((last = await chat(token, 'o3-pro')).status === 200 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect((await error(last)).code).toBe('model_not_allowed');
    expect((await chat(token, 'gpt-4o-mini')).status).toBe(200);
  });

  it('refuses other credentials, and counts mints against the minting token\'s rate', async () => {
    const personal = await issue();
    expect((await error(await mint(personal.token))).code).toBe('not_minting_token');
    expect((await mint('sk-soakp-nope')).status).toBe(401);
    const parent = await issue('--mint');
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await mint(parent.token)).status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(12);
    const over = await mint(parent.token);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await error(over)).message).toContain('minting token');
  });

  it('shares the minting token\'s limits among everything it minted, and ends them all when it is revoked', async () => {
    const parent = await issue('--mint', '--origins', APP, '--rpm', '3');
    const one = await minted(parent.token);
    const two = await minted(parent.token);
    const statuses = [];
    for (const t of [one, two, one, two]) statuses.push((await chat(t.token, 'gpt-4o-mini')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect((await runCli(['token', 'revoke', parent.tokenId], env)).code).toBe(0);
    const until = Date.now() + 5_000;
    let last: Response;
    while ((last = await chat(one.token, 'gpt-4o-mini')).status !== 401 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect((await error(last)).code).toBe('token_revoked');
    expect((await mint(parent.token)).status).toBe(401);
    const all = json<Array<{ id: string; state: string }>>(await runCli(['token', 'list', '--all', '--json'], env));
    expect(all.find((t) => t.id === one.tokenId)?.state).toBe('revoked');
  });

  it('stops working once expired (401 token_expired), and is listed with --all only', async () => {
    const parent = await issue('--mint', '--origins', APP, '--name', 'web-app');
    const { token, tokenId, expiresAt } = await minted(parent.token, { ttl: '1s' });
    expect((await chat(token, 'gpt-4o-mini')).status).toBe(200);
    // The lifetime is the property under test: wait for the clock to pass it.
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(expiresAt) - Date.now()) + 20));
    const late = await chat(token, 'gpt-4o-mini');
    expect(late.status).toBe(401);
    expect((await error(late)).code).toBe('token_expired');
    const listed = json<Array<{ id: string; kind: string }>>(await runCli(['token', 'list', '--json'], env)).map((t) => t.id);
    expect(listed).toContain(parent.tokenId);
    expect(listed).not.toContain(tokenId);
    const all = json<Array<{ id: string; kind: string; name: string }>>(await runCli(['token', 'list', '--all', '--json'], env));
    expect(all.find((t) => t.id === tokenId)).toMatchObject({ kind: 'ephemeral', name: 'web-app' });
  });
});
