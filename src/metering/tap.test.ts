import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { PassThrough, type Readable } from 'node:stream';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TapOptions } from './ports.js';
import { COLLECT_LIMIT } from './bounded.js';
import { tapResponse } from './tap.js';
import { loadTokenizer } from './tokenizer.js';

// The tap counts with the tokenizer once it is loaded (the proxy loads it before tapping a stream).
beforeAll(async () => {
  await loadTokenizer();
});

const SSE = 'text/event-stream; charset=utf-8';
const JSON_TYPE = 'application/json';
const MODEL = 'gpt-4o-mini-2024-07-18';
const CUTOFF = 'data: {"error":{"message":"The token budget of this request was used up; the stream was ended.","type":"insufficient_quota","code":"insufficient_quota","param":null}}\n\n';

const sse = (payload: unknown, eol = '\n'): string => `data: ${JSON.stringify(payload)}${eol}${eol}`;
const chat = (content: string, eol = '\n'): string =>
  sse({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: MODEL, choices: [{ index: 0, delta: { content }, finish_reason: null }] }, eol);
const DONE = 'data: [DONE]\n\n';
const tokens = (...texts: string[]): number => texts.reduce((n, t) => n + countTokens(t), 0);

function options(contentType: string, more: Partial<TapOptions> = {}): TapOptions {
  return { endpoint: 'chat', contentType, promptEstimate: 11, ...more };
}

/** An upstream body that has sent `chunks`, each as its own chunk, and ended. */
function upstream(chunks: Array<string | Buffer>): PassThrough {
  const body = new PassThrough();
  for (const c of chunks) body.write(typeof c === 'string' ? Buffer.from(c) : c);
  body.end();
  return body;
}

/** The chunks the client receives, as they come (flowing mode keeps chunk boundaries). */
async function received(body: Readable): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  body.on('data', (c: Buffer) => chunks.push(c));
  await once(body, 'end');
  return chunks;
}

/** Waits until `got` (filled by a 'data' listener) holds n chunks; they may have come already. */
async function until(body: Readable, got: Buffer[], n: number): Promise<void> {
  while (got.length < n) await once(body, 'data');
}

/** Splits text into pieces of `size` bytes, cutting through CRLFs and UTF-8 characters alike. */
function bytesOf(text: string, size: number): Buffer[] {
  const all = Buffer.from(text);
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i += size) out.push(all.subarray(i, i + size));
  return out;
}

describe('tapResponse: pass-through', () => {
  it('passes a JSON answer on byte for byte and reads its reported usage and model', async () => {
    const answer = JSON.stringify({ id: 'c', object: 'chat.completion', model: MODEL, choices: [{ message: { content: 'hé 🙂' } }], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } });
    const tapped = tapResponse(upstream(bytesOf(answer, 7)), options(JSON_TYPE));
    expect(Buffer.concat(await received(tapped.body)).toString()).toBe(answer);
    expect(await tapped.usage).toEqual({ promptTokens: 9, completionTokens: 3, totalTokens: 12, source: 'reported', model: MODEL });
  });

  it('passes SSE on byte for byte however the chunks fall (one byte at a time, CRLF, multi-byte text)', async () => {
    const deltas = ['Bonjour', ' le', ' monde', ' 日本語', ' 🙂'];
    const stream = [': keep-alive\r\n\r\n', ...deltas.map((d) => chat(d, '\r\n')), DONE].join('');
    for (const size of [1, 2, 3, 5, 64, 4096]) {
      const tapped = tapResponse(upstream(bytesOf(stream, size)), options(SSE));
      expect(Buffer.concat(await received(tapped.body)).toString()).toBe(stream);
      expect(await tapped.usage).toEqual({ promptTokens: 11, completionTokens: tokens(...deltas), totalTokens: 11 + tokens(...deltas), source: 'counted', model: MODEL });
    }
  });

  it('passes each chunk on as it comes, before the next one exists', async () => {
    const body = new PassThrough();
    const tapped = tapResponse(body, options(SSE));
    const got: Buffer[] = [];
    tapped.body.on('data', (c: Buffer) => got.push(c));
    const pieces = ['data: {"choices":[{"delta":{"content":"Hel', 'lo"}}]}\n', '\n'];
    for (const [i, piece] of pieces.entries()) {
      body.write(piece);
      await until(tapped.body, got, i + 1);
      expect(got.map(String)).toEqual(pieces.slice(0, i + 1));
    }
    body.end();
    expect((await tapped.usage).completionTokens).toBe(tokens('Hello'));
  });

  it('passes binary answers on untouched and counts no tokens', async () => {
    const audio = randomBytes(200_000);
    const pieces = [audio.subarray(0, 1), audio.subarray(1, 70_001), audio.subarray(70_001)];
    const tapped = tapResponse(upstream(pieces), options('audio/mpeg', { endpoint: 'audio' }));
    expect(Buffer.concat(await received(tapped.body)).equals(audio)).toBe(true);
    expect(await tapped.usage).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0, source: 'none' });
  });
});

describe('tapResponse: reported usage', () => {
  it('takes a chat stream’s final usage chunk over counting', async () => {
    const usage = sse({ id: 'c', object: 'chat.completion.chunk', model: MODEL, choices: [], usage: { prompt_tokens: 20, completion_tokens: 2, total_tokens: 22 } });
    const tapped = tapResponse(upstream([chat('Hello'), chat(' world'), usage, DONE]), options(SSE));
    await received(tapped.body);
    expect(await tapped.usage).toEqual({ promptTokens: 20, completionTokens: 2, totalTokens: 22, source: 'reported', model: MODEL });
  });

  it('skips the `"usage": null` of every chunk and takes the final usage object, however it is spaced', async () => {
    const withNull = (content: string) => sse({ id: 'c', object: 'chat.completion.chunk', model: MODEL, choices: [{ index: 0, delta: { content } }], usage: null });
    const last = 'data: {"id":"c","model":"' + MODEL + '","choices":[],"usage" : \t{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n';
    for (const ceiling of [undefined, 1000]) {
      const tapped = tapResponse(upstream([withNull('Hi'), withNull(' there'), last, DONE]), options(SSE, { completionCeiling: ceiling }));
      await received(tapped.body);
      expect(await tapped.usage).toEqual({ promptTokens: 5, completionTokens: 2, totalTokens: 7, source: 'reported', model: MODEL });
    }
    const nulls = tapResponse(upstream([withNull('Hi'), withNull(' there'), DONE]), options(SSE));
    await received(nulls.body);
    expect(await nulls.usage).toMatchObject({ completionTokens: tokens('Hi', ' there'), source: 'counted' });
  });

  it('takes a usage that several events follow, and a model from a later event when the first names none', async () => {
    const usage = { prompt_tokens: 1000, completion_tokens: 900, total_tokens: 1900 };
    // Azure opens with its prompt filter results and an empty model.
    const opening = sse({ id: '', object: '', model: '', choices: [], prompt_filter_results: [] });
    const reported = sse({ id: 'c', object: 'chat.completion.chunk', model: MODEL, choices: [], usage });
    const after = [' a', ' b', ' c', ' d', ' e'].map((t) => chat(t));
    const tapped = tapResponse(upstream([opening, chat('Hi'), reported, ...after, DONE]), options(SSE));
    await received(tapped.body);
    expect(await tapped.usage).toEqual({ promptTokens: 1000, completionTokens: 900, totalTokens: 1900, source: 'reported', model: MODEL });
    const counted = tapResponse(upstream([opening, chat('Hi'), DONE]), options(SSE));
    await received(counted.body);
    expect(await counted.usage).toMatchObject({ source: 'counted', model: MODEL });
    // Events are searched for a usage in batches (over 64 KB) and at the end: the latest wins either way.
    const long = Array.from({ length: 800 }, (_, i) => chat(` word${i} `.repeat(10)));
    const later = sse({ id: 'c', object: 'chat.completion.chunk', model: MODEL, choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } });
    for (const [chunks, expected] of [
      [[chat('Hi'), reported, ...long, DONE], 1900],
      [[chat('Hi'), reported, ...long, later, ...after, DONE], 7],
      [[chat('Hi'), reported, ...long, later, ...long, DONE], 7],
    ] as const) {
      for (const ceiling of [undefined, 10_000_000]) {
        const tapped = tapResponse(upstream([...chunks]), options(SSE, { completionCeiling: ceiling }));
        await received(tapped.body);
        expect(await tapped.usage).toMatchObject({ totalTokens: expected, source: 'reported' });
      }
    }
  });

  it('takes the usage of a Responses API `response.completed` event', async () => {
    const events = [
      `event: response.created\n${sse({ type: 'response.created', response: { id: 'r', model: 'gpt-4.1', usage: null } })}`,
      `event: response.output_text.delta\n${sse({ type: 'response.output_text.delta', delta: 'Hi' })}`,
      `event: response.completed\n${sse({ type: 'response.completed', response: { id: 'r', model: 'gpt-4.1', usage: { input_tokens: 30, output_tokens: 1, total_tokens: 31, output_tokens_details: { reasoning_tokens: 0 } } } })}`,
    ];
    const tapped = tapResponse(upstream(bytesOf(events.join(''), 10)), options(SSE, { endpoint: 'responses' }));
    await received(tapped.body);
    expect(await tapped.usage).toEqual({ promptTokens: 30, completionTokens: 1, totalTokens: 31, source: 'reported', model: 'gpt-4.1' });
  });

  it('reads embeddings and Responses API JSON usage shapes', async () => {
    const embeddings = JSON.stringify({ object: 'list', data: [{ embedding: [0.1, -0.2] }], model: 'text-embedding-3-small', usage: { prompt_tokens: 8, total_tokens: 8 } });
    const e = tapResponse(upstream([embeddings]), options(JSON_TYPE, { endpoint: 'embeddings' }));
    await received(e.body);
    expect(await e.usage).toEqual({ promptTokens: 8, completionTokens: 0, totalTokens: 8, source: 'reported', model: 'text-embedding-3-small' });
    const response = JSON.stringify({ object: 'response', model: 'o4-mini', output: [], usage: { input_tokens: 5, output_tokens: 7, total_tokens: 12 } });
    const r = tapResponse(upstream([response]), options('application/json; charset=utf-8', { endpoint: 'responses' }));
    await received(r.body);
    expect(await r.usage).toEqual({ promptTokens: 5, completionTokens: 7, totalTokens: 12, source: 'reported', model: 'o4-mini' });
  });

  it('finds the usage at the end of a JSON answer larger than it keeps', async () => {
    const vector = Array.from({ length: 1536 }, (_, i) => (i % 7) / 7);
    const data = Array.from({ length: 400 }, (_, index) => ({ object: 'embedding', index, embedding: vector }));
    const answer = JSON.stringify({ object: 'list', data, model: 'text-embedding-3-large', usage: { prompt_tokens: 4000, total_tokens: 4000 } });
    expect(answer.length).toBeGreaterThan(5 * 1024 * 1024);
    const tapped = tapResponse(upstream(bytesOf(answer, 65_536)), options(JSON_TYPE, { endpoint: 'embeddings' }));
    expect(Buffer.concat(await received(tapped.body)).length).toBe(answer.length);
    expect(await tapped.usage).toEqual({ promptTokens: 4000, completionTokens: 0, totalTokens: 4000, source: 'reported', model: 'text-embedding-3-large' });
  });

  it('estimates a JSON answer without usage from the prompt estimate', async () => {
    const tapped = tapResponse(upstream(['{"error":{"message":"nope"}}']), options(JSON_TYPE));
    await received(tapped.body);
    expect(await tapped.usage).toEqual({ promptTokens: 11, completionTokens: 0, totalTokens: 11, source: 'estimated', model: undefined });
  });
});

describe('tapResponse: counted usage', () => {
  it('counts text, reasoning and tool-call deltas, legacy completions and Responses deltas like gpt-tokenizer', async () => {
    const events = [
      sse({ model: MODEL, choices: [{ delta: { role: 'assistant', reasoning_content: 'Think first.' } }] }),
      sse({ choices: [{ delta: { tool_calls: [{ index: 0, function: { name: 'get_weather', arguments: '{"city":' } }] } }] }),
      sse({ choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] } }] }),
      sse({ choices: [{ text: ' legacy text' }] }),
      sse({ type: 'response.output_text.delta', delta: ' résumé' }),
      sse({ type: 'response.audio.delta', delta: 'AAAAAAAAAAAAAAAA' }),
      DONE,
    ];
    const tapped = tapResponse(upstream(events), options(SSE));
    await received(tapped.body);
    // The delivered text is counted as a whole (pieces split mid-token are not over-counted).
    const expected = countTokens(['Think first.', 'get_weather', '{"city":', '"Paris"}', ' legacy text', ' résumé'].join(''));
    expect(await tapped.usage).toEqual({ promptTokens: 11, completionTokens: expected, totalTokens: 11 + expected, source: 'counted', model: MODEL });
    // Token-aligned deltas, as upstreams send them, sum to the count of the whole text.
    expect(tokens('Hello', ',', ' world', '!')).toBe(countTokens('Hello, world!'));
  });

  it('charges a client that leaves mid-stream for the events delivered, not for nothing', async () => {
    const body = new PassThrough();
    const tapped = tapResponse(body, options(SSE));
    const got: Buffer[] = [];
    tapped.body.on('data', (c: Buffer) => got.push(c));
    for (const [i, text] of ['Hello', ' world'].entries()) {
      body.write(chat(text));
      await until(tapped.body, got, i + 1);
    }
    tapped.body.destroy();
    expect(await tapped.usage).toEqual({ promptTokens: 11, completionTokens: tokens('Hello', ' world'), totalTokens: 11 + tokens('Hello', ' world'), source: 'counted', model: MODEL });
    expect((await tapped.usage).completionTokens).toBeGreaterThan(0);
    expect(body.destroyed).toBe(true); // the upstream read stops with the client
  });

  it('settles with what was delivered when the upstream fails mid-stream, and fails the client’s stream', async () => {
    const body = new PassThrough();
    const tapped = tapResponse(body, options(SSE));
    const failed = once(tapped.body, 'error');
    const got: Buffer[] = [];
    tapped.body.on('data', (c: Buffer) => got.push(c));
    body.write(chat('Hello'));
    await until(tapped.body, got, 1);
    body.destroy(new Error('upstream reset'));
    expect(((await failed)[0] as Error).message).toBe('upstream reset');
    expect(await tapped.usage).toMatchObject({ completionTokens: tokens('Hello'), source: 'counted' });
  });
});

describe('tapResponse: budget ceiling', () => {
  it('ends the stream with one error event in place of the event that would pass the ceiling', async () => {
    const events = [chat('Hello'), chat(' world'), chat(' and'), chat(' more'), DONE];
    for (const size of [1, 7, 100_000]) {
      const body = upstream(bytesOf(events.join(''), size));
      let cutoffs = 0;
      const tapped = tapResponse(body, options(SSE, { completionCeiling: tokens('Hello', ' world'), onCutoff: () => cutoffs++ }));
      const chunks = await received(tapped.body);
      expect(Buffer.concat(chunks).toString()).toBe(chat('Hello') + chat(' world') + CUTOFF);
      expect(chunks.at(-1)?.toString()).toBe(CUTOFF);
      expect(cutoffs).toBe(1);
      expect(await tapped.usage).toEqual({ promptTokens: 11, completionTokens: tokens('Hello', ' world'), totalTokens: 11 + tokens('Hello', ' world'), source: 'counted', model: MODEL });
      expect(body.destroyed).toBe(true); // the upstream call is cancelled
    }
  });

  it('passes whole events on, and everything when the ceiling is not reached', async () => {
    const events = [': ping\r\n\r\n', chat('Hello', '\r\n'), chat(' 日本語', '\r\n'), DONE];
    let cutoffs = 0;
    const tapped = tapResponse(upstream(bytesOf(events.join(''), 1)), options(SSE, { completionCeiling: tokens('Hello', ' 日本語'), onCutoff: () => cutoffs++ }));
    const chunks = await received(tapped.body);
    expect(chunks.map(String)).toEqual(events);
    expect(cutoffs).toBe(0);
    expect(await tapped.usage).toMatchObject({ completionTokens: tokens('Hello', ' 日本語'), source: 'counted' });
  });

  it('holds the ceiling exactly when the events are far larger than their text', async () => {
    // Each event is ~150 bytes for one token of text: the byte bound passes the ceiling at once,
    // so the text bound and then exact counting decide.
    const events = Array.from({ length: 50 }, () => chat(' hello'));
    const total = tokens(' hello'.repeat(50));
    const all = tapResponse(upstream([...events, DONE]), options(SSE, { completionCeiling: total }));
    expect(Buffer.concat(await received(all.body)).toString()).toBe(events.join('') + DONE);
    expect(await all.usage).toMatchObject({ completionTokens: total, source: 'counted' });
    const cut = tapResponse(upstream([...events, DONE]), options(SSE, { completionCeiling: 10 }));
    const text = Buffer.concat(await received(cut.body)).toString();
    expect(text.endsWith(CUTOFF)).toBe(true);
    expect(text).toBe(events.slice(0, 10).join('') + CUTOFF);
    expect(await cut.usage).toMatchObject({ completionTokens: 10, source: 'counted' });
  });

  it('does not hold back an event larger than it keeps (image data), and still reads its usage', async () => {
    const image = randomBytes(4_000_000).toString('base64');
    const completed = sse({ type: 'response.completed', response: { model: 'gpt-image-1', output: [{ type: 'image_generation_call', result: image }], usage: { input_tokens: 50, output_tokens: 1000, total_tokens: 1050 } } });
    const stream = sse({ type: 'response.output_text.delta', delta: 'Here' }) + completed;
    const tapped = tapResponse(upstream(bytesOf(stream, 65_536)), options(SSE, { endpoint: 'responses', completionCeiling: 10 }));
    const chunks = await received(tapped.body);
    expect(Buffer.concat(chunks).toString()).toBe(stream);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(COLLECT_LIMIT + 65_536);
    expect(await tapped.usage).toEqual({ promptTokens: 50, completionTokens: 1000, totalTokens: 1050, source: 'reported', model: 'gpt-image-1' });
  });
});
