import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countText, loadTokenizer } from '../../src/metering/tokenizer.js';
import { json, runCli } from '../helpers/cli.js';
import { SSE_EVENTS } from '../helpers/fake-routes.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

/** When the upstream sends each content event, from the start of its answer (a model's pace). */
const PACE_MS = [80, 225, 375, 450];
/** How late an event may reach the client after the upstream wrote it (same machine, same clock). */
const ON_TIME_MS = 50;

const now = (): number => performance.timeOrigin + performance.now();

/** Streams a chat and records when each complete event reached the client. */
async function streamed(url: string, token: string, content: string): Promise<{ events: string[]; arrived: number[] }> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content }] }),
  });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const events: string[] = [];
  const arrived: number[] = [];
  let buffered = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const at = now();
    buffered += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) !== -1) {
      events.push(buffered.slice(0, end));
      arrived.push(at);
      buffered = buffered.slice(end + 2);
    }
  }
  return { events, arrived };
}

// A server process of its own: the tokenizer and every other lazy part start unloaded, as after a deploy.
describe('the first stream after start-up is not held back', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let server: ServeProcess | undefined;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    json(await runCli(['user', 'add', 'f@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
  });

  afterAll(async () => {
    if (server && server.child.exitCode === null) await server.stop();
    await upstream?.close();
    temp?.cleanup();
  });

  it('delivers each event of the first stream as the upstream sends it, under a token budget and a TPM limit, and counts it after', async () => {
    const { token } = json<{ token: string }>(await runCli(['token', 'issue', 'f@example.com', '--token-budget', '100000', '--tpm', '100000', '--json'], env));
    server = await startServe(env);
    // As clients do (Open WebUI, the SDKs), the models are listed first; the first stream is what is measured.
    expect((await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    upstream.controls.ssePaceMs = PACE_MS;
    // An upstream that ignores stream_options.include_usage (soakp asks for it): the text has to be counted.
    upstream.controls.ignoreStreamOptions = true;
    for (const prompt of ['first after start-up', 'and the next']) {
      // No stream_options.include_usage: the delivered text has to be counted (with the tokenizer).
      const { events, arrived } = await streamed(server.url, token, prompt);
      const sent = upstream.controls.sseSent ?? [];
      expect(events.at(-1)).toBe('data: [DONE]');
      expect(sent).toHaveLength(SSE_EVENTS.length);
      const late = sent.map((at, i) => Math.round((arrived[i] as number) - at));
      expect(late.every((ms) => ms < ON_TIME_MS), `${prompt}: ms each event reached the client after the upstream wrote it: ${late.join(', ')}`).toBe(true);
    }
    expect(await server.stop()).toBe(0); // flushes the ledger
    const db = new Database(join(temp.dir, 'soakp.db'), { readonly: true });
    const rows = db.prepare("SELECT source, prompt_tokens, completion_tokens FROM usage WHERE endpoint = 'chat' ORDER BY id").all();
    db.close();
    // Counted after the fact, with the tokenizer: the same figures as when the stream waited for it.
    await loadTokenizer();
    const completion = countText(SSE_EVENTS.join(''));
    expect(rows).toEqual([
      // The prompt as billed: its text and role, 3 tokens for the message and 3 priming the reply.
      { source: 'counted', prompt_tokens: countText('user') + countText('first after start-up') + 6, completion_tokens: completion },
      { source: 'counted', prompt_tokens: countText('user') + countText('and the next') + 6, completion_tokens: completion },
    ]);
  });
});
