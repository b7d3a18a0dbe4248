import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, Gate, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

describe('policies on the data plane: scopes, limits and budgets hold under concurrency', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    const config = join(temp.dir, 'soakp.yaml');
    writeFileSync(config, 'budgets:\n  completionCeiling: 2\nprices:\n  cheap-model: { input: 1, output: 2 }\n');
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

  const issue = async (...options: string[]) => json<{ token: string; tokenId: string }>(await runCli(['token', 'issue', 'p@example.com', ...options, '--json'], env));
  const chat = (token: string, body: Record<string, unknown>) =>
    fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }) });

  it('lets exactly N of 100 simultaneous requests through against --rpm N', async () => {
    const { token } = await issue('--rpm', '10');
    const before = upstream.requests.length;
    const results = await Promise.all(Array.from({ length: 100 }, () => fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } })));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(90);
    expect(upstream.requests.length - before).toBe(10);
    const admitted = results.find((r) => r.status === 200) as Response;
    expect(admitted.headers.get('x-ratelimit-limit-requests')).toBe('10'); // soakp's, not the upstream's 5000
    const refused = results.find((r) => r.status === 429) as Response;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('10');
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(((await refused.json()) as { error: { type: string } }).error.type).toBe('rate_limit_error');
  });

  it('refuses models, endpoints and multipart models outside the scope with 403, before the upstream', async () => {
    const { token } = await issue('--models', 'gpt-4o*,whisper-1', '--endpoints', 'chat,audio');
    const before = upstream.requests.length;
    expect((await chat(token, { model: 'gpt-4o-mini' })).status).toBe(200);
    const denied = await chat(token, { model: 'o3' });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe('model_not_allowed');
    expect((await fetch(`${server.url}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"model":"gpt-4o","input":"x"}' })).status).toBe(403);
    const client = new OpenAI({ apiKey: token, baseURL: `${server.url}/v1`, maxRetries: 0 });
    const audio = await toFile(Buffer.alloc(50_000, 1), 'a.mp3');
    await expect(client.audio.transcriptions.create({ file: audio, model: 'whisper-1' })).resolves.toBeDefined();
    await expect(client.audio.transcriptions.create({ file: await toFile(Buffer.alloc(50_000, 1), 'a.mp3'), model: 'other-transcriber' })).rejects.toMatchObject({ status: 403 });
    expect(upstream.requests.length - before).toBe(2); // the allowed chat and the allowed transcription
  });

  it('reserves budgets so concurrent streams cannot overrun them', async () => {
    // 40 tokens a month. The first request reserves its prompt's bound (the bytes of "user" and
    // "hi" + 6 tokens of the chat format = 12) + max_tokens 10 = 22; the next ones are refused
    // that bound and counted exactly (1 + 1 + 6 + 10 = 18, as OpenAI bills it): one more fits, then none.
    const { token } = await issue('--token-budget', '40', '--budget-period', 'month');
    const gate = new Gate();
    upstream.controls.sseGate = gate;
    try {
      const before = upstream.requests.length;
      const pending = Array.from({ length: 8 }, () => chat(token, { model: 'gpt-4o-mini', stream: true, max_tokens: 10 }));
      const responses = await Promise.all(pending.map((p) => p.then((r) => r)));
      const admitted = responses.filter((r) => r.status === 200);
      const refused = responses.filter((r) => r.status === 429);
      expect(admitted.length).toBe(2);
      expect(refused.length).toBe(6);
      expect(((await refused[0]?.json()) as { error: { code: string } }).error.code).toBe('insufficient_quota');
      expect(upstream.requests.length - before).toBe(2);
      gate.open();
      await Promise.all(admitted.map((r) => r.text()));
    } finally {
      upstream.controls.sseGate = undefined;
    }
  });

  it('ends a stream that outgrows its reservation with a final SSE error event and cancels the upstream', async () => {
    // No max_tokens: the reservation is the configured ceiling of 2 completion tokens; the fake sends 4.
    const { token } = await issue('--token-budget', '1000');
    const gate = new Gate();
    // The fake sends three events, then waits (still "generating") until the gate opens.
    upstream.controls.sseGate = gate;
    upstream.controls.sseGateFrom = 3;
    const aborted = upstream.aborted();
    try {
      const res = await chat(token, { model: 'gpt-4o-mini', stream: true });
      expect(res.status).toBe(200);
      const text = await res.text();
      const events = text.split('\n\n').filter(Boolean);
      expect(events.at(-1)).toMatch(/^data: \{"error":\{.*"code":"insufficient_quota"/);
      expect(text).not.toContain('[DONE]');
      await aborted; // the upstream saw its call cancelled while it was still generating
      expect(events.filter((e) => e.includes('"delta"'))).toHaveLength(2);
    } finally {
      gate.open();
      upstream.controls.sseGate = undefined;
      upstream.controls.sseGateFrom = undefined;
    }
  });

  it('refuses a dollar budget for a model without a price, naming it', async () => {
    const { token } = await issue('--usd-budget', '1');
    const res = await chat(token, { model: 'mystery-model' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('unknown_model_price');
    expect(body.error.message).toContain('mystery-model');
    expect((await chat(token, { model: 'cheap-model' })).status).toBe(200);
  });

  it('applies the same policies to the library\'s request()', async () => {
    const { token } = await issue('--rpm', '1');
    await expect(soakp.request(token, 'models')).resolves.toMatchObject({ object: 'list' });
    await expect(soakp.request(token, 'models')).rejects.toMatchObject({ code: 'rate_limited', status: 429 });
  });

  it('holds a concurrency limit: the second request waits its turn with 429', async () => {
    const { token } = await issue('--concurrency', '1');
    upstream.hold();
    const first = fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
    await upstream.received(upstream.requests.length + 1);
    const second = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
    expect(second.status).toBe(429);
    upstream.release();
    expect((await first).status).toBe(200);
  });
});
