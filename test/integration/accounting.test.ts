import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3-multiple-ciphers';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, Gate, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

interface Row {
  model: string | null;
  endpoint: string;
  status: number;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micros: number;
  source: string;
  bytes_in: number;
  bytes_out: number;
}

describe('the usage ledger and the usage report', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let env: NodeJS.ProcessEnv;
  let token: string;
  const rows: Row[] = [];
  /** The plain request's body as the upstream got it, and its answer's body as the client got it. */
  const plainBytes = { in: 0, out: 0 };
  /** The envelope soakp answered with when the upstream was down. */
  let downBytes = -1;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    token = json<{ token: string }>(await runCli(['user', 'add', 'u@example.com', '--key-stdin', '--json'], env, canaryKey())).token;
    const soakp = await Soakp.open({ logLevel: 'silent', env });
    const server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    const client = new OpenAI({ apiKey: token, baseURL: `${server.url}/v1`, maxRetries: 0 });
    // Plain: the upstream reports usage (5 prompt, 3 completion).
    const plain = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'plain' }] }).asResponse();
    plainBytes.out = (await plain.arrayBuffer()).byteLength;
    plainBytes.in = upstream.requests.at(-1)?.body.length ?? -1;
    // Streamed as the SDK sends it (no stream_options): soakp asks the upstream for the usage (7 prompt, 4 completion).
    const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'stream' }], stream: true });
    for await (const _ of stream) void _;
    // Aborted after the first event while the upstream still generates: charged for what was delivered.
    const gate = new Gate();
    upstream.controls.sseGate = gate;
    const upstreamCancelled = upstream.aborted();
    const controller = new AbortController();
    const aborted = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'abort' }], stream: true }, { signal: controller.signal });
    for await (const _ of aborted) {
      controller.abort();
      break;
    }
    await upstreamCancelled; // the proxy noticed the client leave and cancelled the upstream call
    gate.open();
    upstream.controls.sseGate = undefined;
    // Failed: the upstream's error passes through and is recorded with its status.
    await fetch(`${server.url}/v1/fail`, { headers: { authorization: `Bearer ${token}` } });
    // Down: soakp answers 502 with its own envelope, counted as the answer's bytes.
    await upstream.close();
    const down = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
    downBytes = down.status === 502 ? (await down.arrayBuffer()).byteLength : -down.status;
    await server.close(); // flushes the ledger: nothing queued is lost
    await soakp.close();
    const db = new Database(join(temp.dir, 'soakp.db'), { readonly: true });
    rows.push(...(db.prepare('SELECT model, endpoint, status, prompt_tokens, completion_tokens, cost_micros, source, bytes_in, bytes_out FROM usage ORDER BY id').all() as Row[]));
    db.close();
  });

  afterAll(async () => {
    await upstream?.close();
    temp?.cleanup();
  });

  it('records one row per request with how its usage was known', () => {
    expect(rows).toHaveLength(5);
    const [plain, streamed, aborted, failed] = rows as [Row, Row, Row, Row];
    expect(plain).toMatchObject({ model: 'gpt-4o-mini', endpoint: 'chat', status: 200, prompt_tokens: 5, completion_tokens: 3, source: 'reported' });
    expect(plain.cost_micros).toBe(Math.ceil(5 * 0.15 + 3 * 0.6));
    expect(streamed).toMatchObject({ model: 'gpt-4o-mini', status: 200, source: 'reported', prompt_tokens: 7, completion_tokens: 4 });
    // Left before the usage came: what was delivered is counted; the prompt, which this token's
    // policies never had read, is estimated from its bytes (so the row says `estimated`).
    expect(aborted).toMatchObject({ model: 'gpt-4o', source: 'estimated' });
    expect(aborted.completion_tokens).toBeGreaterThan(0); // never charged for nothing
    expect(aborted.completion_tokens).toBeLessThan(streamed.completion_tokens);
    expect(failed).toMatchObject({ endpoint: 'other', status: 429 });
  });

  it('records the bytes of the request body and of the answer body', () => {
    expect(plainBytes.in).toBeGreaterThan(0);
    expect(plainBytes.out).toBeGreaterThan(0);
    expect(rows[0]).toMatchObject({ bytes_in: plainBytes.in, bytes_out: plainBytes.out });
    expect(rows[3]?.bytes_in).toBe(0); // a GET has no body
    expect(rows[3]?.bytes_out).toBeGreaterThan(0);
    expect(downBytes).toBeGreaterThan(0);
    expect(rows[4]).toMatchObject({ status: 502, bytes_in: 0, bytes_out: downBytes });
  });

  it('reports usage by user, model and day, as JSON', async () => {
    const byUser = json<Array<Record<string, unknown>>>(await runCli(['usage', '--by', 'user', '--since', '1d', '--json'], env));
    expect(byUser).toEqual([
      { user: 'u@example.com', requests: 5, promptTokens: expect.any(Number), completionTokens: expect.any(Number), totalTokens: expect.any(Number), costUsd: expect.any(Number) },
    ]);
    const byModel = json<Array<{ model: string; requests: number }>>(await runCli(['usage', '--by', 'model', '--json'], env));
    expect(byModel.find((r) => r.model === 'gpt-4o-mini')?.requests).toBe(2);
    const byDay = json<Array<{ day: string }>>(await runCli(['usage', '--by', 'day', '--user', 'u@example.com', '--json'], env));
    expect(byDay[0]?.day).toBe(new Date().toISOString().slice(0, 10));
    expect((await runCli(['usage', '--by', 'week'], env)).code).toBe(2);
    expect((await runCli(['usage', '--since', 'yesterday'], env)).code).toBe(2);
    expect((await runCli(['usage', '--user', 'nobody@example.com'], env)).code).toBe(3);
  });

  it('records last-used times of tokens from the ledger', async () => {
    const tokens = json<Array<{ lastUsedAt: string | null }>>(await runCli(['token', 'list', '--json'], env));
    expect(tokens[0]?.lastUsedAt).not.toBeNull();
  });
});

describe('policy options are validated, every problem at once, and audited', () => {
  let temp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    temp = tempDir();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey() };
    json(await runCli(['user', 'add', 'u@example.com', '--key', canaryKey(), '--no-token', '--json'], env));
  });
  afterAll(() => temp?.cleanup());

  it('refuses negative, absurd and malformed limits, budgets and periods, and stores nothing', async () => {
    const r = await runCli(['token', 'issue', 'u@example.com', '--rpm', '-1', '--tpm', '1e9', '--concurrency', '0', '--budget-period', 'weekly', '--token-budget', '10', '--endpoints', 'chat,telepathy', '--usd-budget', '-5'], env);
    expect(r.code).toBe(2);
    for (const m of [/--rpm/, /--tpm/, /--concurrency/, /--budget-period/, /telepathy/, /--usd-budget/]) expect(r.stderr).toMatch(m);
    expect(json<unknown[]>(await runCli(['token', 'list', '--json'], env))).toHaveLength(0);
    expect((await runCli(['user', 'limits', 'u@example.com', '--rpm', 'lots'], env)).code).toBe(2);
  });

  it('sets, merges and clears a user policy; tokens carry theirs; the audit log records both', async () => {
    const set = json<{ policy: Record<string, unknown> }>(await runCli(['user', 'limits', 'u@example.com', '--rpm', '60', '--models', 'gpt-4o*', '--json'], env));
    expect(set.policy).toEqual({ scopes: { models: ['gpt-4o*'] }, limits: { rpm: 60 } });
    const merged = json<{ policy: Record<string, unknown> }>(await runCli(['user', 'limits', 'u@example.com', '--usd-budget', '5', '--budget-period', 'day', '--json'], env));
    expect(merged.policy).toEqual({ scopes: { models: ['gpt-4o*'] }, limits: { rpm: 60 }, budget: { usd: 5, period: 'day' } });
    const issued = json<{ policy: Record<string, unknown> }>(await runCli(['token', 'issue', 'u@example.com', '--tpm', '1000', '--json'], env));
    expect(issued.policy).toEqual({ limits: { tpm: 1000 } });
    const cleared = json<{ policy: Record<string, unknown> }>(await runCli(['user', 'limits', 'u@example.com', '--clear', '--json'], env));
    expect(cleared.policy).toEqual({});
    const actions = json<Array<{ action: string }>>(await runCli(['audit', 'list', '--json'], env)).map((e) => e.action);
    expect(actions.filter((a) => a === 'user.policy')).toHaveLength(3);
    expect(actions).toContain('token.issue');
  });

  it('refuses a price table with a typo or a negative price, naming each problem', async () => {
    const config = join(temp.dir, 'prices.yaml');
    writeFileSync(config, 'prices:\n  gpt-4o: { inptu: 1, output: 2 }\n  cheap: { input: -1 }\n');
    const r = await runCli(['config', 'check', '--config', config], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/prices\.gpt-4o.*inptu/s);
    expect(r.stderr).toMatch(/prices\.cheap\.input/);
  });
});

describe('budget settlement', () => {
  it('settles reservations to the real usage (batched, flushed on close): spent is what was used, nothing stays reserved', async () => {
    const temp = tempDir();
    const upstream = await startFakeUpstream();
    try {
      const env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
      json(await runCli(['user', 'add', 'b@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
      const { token, tokenId } = json<{ token: string; tokenId: string }>(await runCli(['token', 'issue', 'b@example.com', '--token-budget', '100000', '--json'], env));
      const soakp = await Soakp.open({ logLevel: 'silent', env });
      const server = await soakp.listen({ host: '127.0.0.1', port: 0 });
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${server.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 500, messages: [{ role: 'user', content: 'x' }] }),
        });
        expect(res.status).toBe(200);
        await res.text();
      }
      await server.close();
      await soakp.close();
      const db = new Database(join(temp.dir, 'soakp.db'), { readonly: true });
      const row = db.prepare('SELECT spent_tokens, reserved_tokens FROM budget_counters WHERE scope = ?').get(`token:${tokenId}`);
      db.close();
      expect(row).toEqual({ spent_tokens: 3 * 8, reserved_tokens: 0 }); // the fake reports 5 + 3 tokens each
    } finally {
      await upstream.close();
      temp.cleanup();
    }
  });
});
