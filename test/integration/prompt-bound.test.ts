import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { countText, loadTokenizer, tokenizerReady } from '../../src/metering/tokenizer.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

// Runs in its own module context (a test file of its own): the tokenizer starts unloaded.
describe('the prompt is reserved by a byte bound; the tokenizer is loaded only when a count is due', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let soakp: Soakp | undefined;
  let server: RunningServer | undefined;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    const config = join(temp.dir, 'soakp.yaml');
    writeFileSync(config, 'budgets:\n  completionCeiling: 2\n');
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_CONFIG: config };
    json(await runCli(['user', 'add', 'b@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    soakp = await Soakp.open({ logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
  });

  /** Closes the server (flushing the ledger) before reading what it wrote. */
  const stop = async (): Promise<void> => {
    await server?.close();
    await soakp?.close();
    [server, soakp] = [undefined, undefined];
  };

  afterAll(async () => {
    await stop();
    await upstream?.close();
    temp?.cleanup();
  });

  const issue = async (...options: string[]) => json<{ token: string }>(await runCli(['token', 'issue', 'b@example.com', ...options, '--json'], env));
  const chat = (token: string, content: string, extra: Record<string, unknown> = {}) =>
    fetch(`${(server as RunningServer).url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }], ...extra }) });
  const rows = (): Array<{ source: string; prompt_tokens: number }> => {
    const db = new Database(join(temp.dir, 'soakp.db'), { readonly: true });
    try {
      return db.prepare('SELECT source, prompt_tokens FROM usage ORDER BY id').all() as Array<{ source: string; prompt_tokens: number }>;
    } finally {
      db.close();
    }
  };

  it('meters answers that report their usage without loading the tokenizer (chat, and a stream that asks for usage)', async () => {
    const { token } = await issue('--tpm', '100000', '--token-budget', '1000000');
    expect((await chat(token, 'hello')).status).toBe(200);
    const streamed = await chat(token, 'hello', { stream: true, stream_options: { include_usage: true }, max_tokens: 100 });
    expect(await streamed.text()).toContain('"usage":{"prompt_tokens":7');
    expect(tokenizerReady()).toBe(false);
  });

  it('admits a request whose prompt bytes pass a TPM limit but whose tokens do not: counted exactly, then admitted', async () => {
    const prompt = 'hello '.repeat(300); // 1,800 bytes, 300 tokens
    const { token } = await issue('--tpm', '1000');
    expect(tokenizerReady()).toBe(false);
    expect((await chat(token, prompt)).status).toBe(200); // refused by the bound, counted (loading the tokenizer), admitted
    expect(tokenizerReady()).toBe(true);
    expect((await loadTokenizer())(prompt)).toBeLessThan(400);
    // A prompt whose exact count passes the limit is still refused.
    const refused = await chat(token, 'hello '.repeat(2000));
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
  });

  it('bounds a prompt without readable text (an image only) by the body, as before', async () => {
    const { token } = await issue('--tpm', '500');
    const image = [{ type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(3000)}` } }];
    const res = await fetch(`${(server as RunningServer).url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: image }] }) });
    expect(res.status).toBe(429); // ~3,100 bytes ÷ 3 is over 500 tokens a minute
  });

  it('admits a request whose prompt bytes pass a token budget but whose tokens fit', async () => {
    const { token } = await issue('--token-budget', '600', '--budget-period', 'total');
    expect((await chat(token, 'hello '.repeat(300))).status).toBe(200);
  });

  it('counts a stream that did not ask for usage (the tokenizer loads for it) and records it in order', async () => {
    const { token } = await issue('--tpm', '100000'); // a TPM limit: the body is read, so its prompt is known
    // An upstream that ignores stream_options.include_usage (soakp asks for it): the text has to be counted.
    upstream.controls.ignoreStreamOptions = true;
    const res = await chat(token, 'count me', { stream: true });
    expect(await res.text()).toContain('[DONE]');
    expect((await chat(token, 'then me')).status).toBe(200);
    await stop(); // flushes the ledger
    const recorded = rows().slice(-2);
    expect(recorded.map((r) => r.source)).toEqual(['counted', 'reported']);
    // Its role and text, 3 tokens for the message and 3 priming the reply, as OpenAI bills a chat.
    expect(recorded[0]?.prompt_tokens).toBe(countText('user') + countText('count me') + 3 + 3);
  });
});
