import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

interface Row {
  prompt_tokens: number;
  completion_tokens: number;
  source: string;
}

const MESSAGES = [{ role: 'user', content: 'hi' }];
const SDK_STREAM = JSON.stringify({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true });
const ASKED = JSON.stringify({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true, stream_options: { include_usage: true } });

/** soakp (a library server) in front of the fake, a token with no policy (or `policy`), and its ledger once closed. */
async function setUp(config: string | undefined, policy: string[] = []) {
  const temp = tempDir();
  const upstream = await startFakeUpstream();
  const env: NodeJS.ProcessEnv = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
  if (config !== undefined) {
    env.SOAKP_CONFIG = join(temp.dir, 'soakp.yaml');
    writeFileSync(env.SOAKP_CONFIG, config);
  }
  json(await runCli(['user', 'add', 'u@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
  const { token } = json<{ token: string }>(await runCli(['token', 'issue', 'u@example.com', ...policy, '--json'], env));
  const soakp = await Soakp.open({ logLevel: 'silent', env });
  const server = await soakp.listen({ host: '127.0.0.1', port: 0 });
  const post = async (body: string, base = `${server.url}/v1`, auth = token) => {
    const res = await fetch(`${base}/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' }, body });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
  /** The stream as the upstream sends it when asked directly. */
  const direct = (body: string) => post(body, upstream.baseUrl, 'sk-direct');
  const ledger = async (): Promise<Row[]> => {
    await server.close();
    await soakp.close();
    const db = new Database(join(temp.dir, 'soakp.db'), { readonly: true });
    const rows = db.prepare('SELECT prompt_tokens, completion_tokens, source FROM usage ORDER BY id').all() as Row[];
    db.close();
    return rows;
  };
  cleanups.push(async () => {
    await server.close();
    await soakp.close();
    await upstream.close();
    temp.cleanup();
  });
  return { upstream, post, direct, ledger, soakp, token, url: server.url };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const lastBody = (upstream: FakeUpstream) => upstream.requests.at(-1)?.body.toString() ?? '';

describe('budgets.requestStreamUsage (on by default): the upstream reports a stream’s usage, the client sees what it asked for', () => {
  it('asks the upstream for the usage of a stream sent as the SDK sends it, gives the client exactly the stream it would have had, and records the reported usage', async () => {
    const s = await setUp(undefined);
    const expected = await s.direct(SDK_STREAM); // the upstream's stream without stream_options
    expect(expected.text).not.toContain('usage');
    const got = await s.post(SDK_STREAM);
    expect(got.status).toBe(200);
    expect(got.text).toBe(expected.text); // byte for byte: no usage chunk, no "usage":null
    const sent = JSON.parse(lastBody(s.upstream)) as Record<string, unknown>;
    expect(sent).toEqual({ ...(JSON.parse(SDK_STREAM) as object), stream_options: { include_usage: true } });
    expect(await s.ledger()).toEqual([{ prompt_tokens: 7, completion_tokens: 4, source: 'reported' }]);
  });

  it('does the same under a budget (the stream then goes on at event boundaries) and through the official SDK', async () => {
    const s = await setUp(undefined, ['--token-budget', '100000', '--models', 'gpt-4o*']);
    const expected = await s.direct(SDK_STREAM);
    expect((await s.post(SDK_STREAM)).text).toBe(expected.text);
    const client = new OpenAI({ apiKey: s.token, baseURL: `${s.url}/v1`, maxRetries: 0 });
    const chunks = [];
    for await (const c of await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true })) chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello world');
    expect(chunks.every((c) => c.choices.length === 1 && !('usage' in c))).toBe(true);
    expect(await s.ledger()).toEqual([
      { prompt_tokens: 7, completion_tokens: 4, source: 'reported' },
      { prompt_tokens: 7, completion_tokens: 4, source: 'reported' },
    ]);
  });

  it('leaves a client that asked for the usage its usage chunk and "usage": null members, and its body untouched', async () => {
    const s = await setUp(undefined);
    const expected = await s.direct(ASKED);
    expect(expected.text).toContain('"usage":null');
    const got = await s.post(ASKED);
    expect(got.text).toBe(expected.text);
    expect(lastBody(s.upstream)).toBe(ASKED);
    expect(await s.ledger()).toEqual([{ prompt_tokens: 7, completion_tokens: 4, source: 'reported' }]);
  });

  it('counts the stream when the upstream ignores stream_options, and passes it on as it came', async () => {
    const s = await setUp(undefined);
    s.upstream.controls.ignoreStreamOptions = true;
    const expected = await s.direct(SDK_STREAM);
    expect((await s.post(SDK_STREAM)).text).toBe(expected.text);
    expect(JSON.parse(lastBody(s.upstream))).toMatchObject({ stream_options: { include_usage: true } });
    // The text is counted; the prompt, which this token's policies never had read, is estimated from its bytes.
    const [row] = await s.ledger();
    expect(row).toMatchObject({ source: 'estimated', completion_tokens: 2 }); // "Hello world"
    expect(row?.prompt_tokens).toBeGreaterThan(0);
  });

  it('counts the prompt too when a policy had the body read (a token budget)', async () => {
    const s = await setUp(undefined, ['--token-budget', '1000000']);
    s.upstream.controls.ignoreStreamOptions = true;
    expect((await s.post(SDK_STREAM)).text).toContain('[DONE]');
    const [row] = await s.ledger();
    expect(row).toMatchObject({ source: 'counted', completion_tokens: 2 });
  });

  it('turned off, leaves the request body untouched and counts the stream', async () => {
    const s = await setUp('budgets:\n  requestStreamUsage: false\n');
    const expected = await s.direct(SDK_STREAM);
    expect((await s.post(SDK_STREAM)).text).toBe(expected.text);
    expect(lastBody(s.upstream)).toBe(SDK_STREAM);
    const [row] = await s.ledger();
    expect(row).toMatchObject({ source: 'estimated', completion_tokens: 2 });
  });

  it('passes other requests on byte for byte: not streamed, with stream_options of their own, not JSON', async () => {
    const s = await setUp(undefined);
    const bodies = [
      JSON.stringify({ model: 'gpt-4o-mini', messages: MESSAGES }),
      JSON.stringify({ model: 'gpt-4o-mini', messages: MESSAGES, stream: false }),
      JSON.stringify({ model: 'gpt-4o-mini', messages: MESSAGES, stream: true, stream_options: { include_usage: false } }),
      JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: '"stream": true' }] }),
      '{"model": "gpt-4o-mini", "stream": true, not json',
    ];
    for (const body of bodies) {
      await s.post(body);
      expect(lastBody(s.upstream)).toBe(body);
    }
  });
});
