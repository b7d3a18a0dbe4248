import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { beforeAll, describe, expect, it } from 'vitest';
import { DONE, MODEL, SSE, bytesOf, chat, drive, meterOf, sse, text, tokens } from '../../test/helpers/metering.js';
import { loadTokenizer } from './tokenizer.js';

// The SSE meter without a budget ceiling (with one: sse-ceiling.test.ts; before the tokenizer
// is loaded: unloaded.test.ts). The proxy loads the tokenizer before it meters a stream.
beforeAll(async () => {
  await loadTokenizer();
});

const counted = (...texts: string[]) => ({ promptTokens: 11, completionTokens: tokens(...texts), totalTokens: 11 + tokens(...texts), source: 'counted', model: MODEL });

describe('SseMeter: pass-through', () => {
  it('passes SSE on byte for byte however the chunks fall (one byte at a time, CRLF, multi-byte text)', () => {
    const deltas = ['Bonjour', ' le', ' monde', ' 日本語', ' 🙂'];
    const stream = [': keep-alive\r\n\r\n', ...deltas.map((d) => chat(d, '\r\n')), DONE].join('');
    for (const size of [1, 2, 3, 5, 64, 4096]) {
      const meter = meterOf(SSE);
      const driven = drive(meter, bytesOf(stream, size));
      expect(driven.cut).toBe(false);
      expect(text(driven)).toBe(stream);
      expect(meter.observation()).toEqual(counted(...deltas));
    }
  });

  it('passes each chunk on as it comes, before the next one exists', () => {
    const meter = meterOf(SSE);
    const got: string[] = [];
    const pieces = ['data: {"choices":[{"delta":{"content":"Hel', 'lo"}}]}\n', '\n'];
    for (const [i, piece] of pieces.entries()) {
      expect(meter.write(Buffer.from(piece), (b) => void got.push(b.toString()))).toBe(false);
      expect(got).toEqual(pieces.slice(0, i + 1));
    }
    expect(meter.end(() => got.push('more'))).toBe(false);
    expect(got).toEqual(pieces);
    expect(meter.observation()).toMatchObject({ completionTokens: tokens('Hello'), source: 'counted' });
  });
});

describe('SseMeter: reported usage', () => {
  it('takes a chat stream’s final usage chunk over counting', () => {
    const usage = sse({ id: 'c', object: 'chat.completion.chunk', model: MODEL, choices: [], usage: { prompt_tokens: 20, completion_tokens: 2, total_tokens: 22 } });
    const meter = meterOf(SSE);
    drive(meter, [chat('Hello'), chat(' world'), usage, DONE]);
    expect(meter.observation()).toEqual({ promptTokens: 20, completionTokens: 2, totalTokens: 22, source: 'reported', model: MODEL });
  });

  it('skips the `"usage": null` of every chunk and takes the final usage object, however it is spaced', () => {
    const withNull = (content: string) => sse({ id: 'c', object: 'chat.completion.chunk', model: MODEL, choices: [{ index: 0, delta: { content } }], usage: null });
    const last = 'data: {"id":"c","model":"' + MODEL + '","choices":[],"usage" : \t{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n';
    for (const ceiling of [undefined, 1000]) {
      const meter = meterOf(SSE, { completionCeiling: ceiling });
      drive(meter, [withNull('Hi'), withNull(' there'), last, DONE]);
      expect(meter.observation()).toEqual({ promptTokens: 5, completionTokens: 2, totalTokens: 7, source: 'reported', model: MODEL });
    }
    const nulls = meterOf(SSE);
    drive(nulls, [withNull('Hi'), withNull(' there'), DONE]);
    expect(nulls.observation()).toEqual(counted('Hi', ' there'));
  });

  it('takes a usage that several events follow, and a model from a later event when the first names none', () => {
    const usage = { prompt_tokens: 1000, completion_tokens: 900, total_tokens: 1900 };
    // Azure opens with its prompt filter results and an empty model.
    const opening = sse({ id: '', object: '', model: '', choices: [], prompt_filter_results: [] });
    const reported = sse({ id: 'c', object: 'chat.completion.chunk', model: MODEL, choices: [], usage });
    const after = [' a', ' b', ' c', ' d', ' e'].map((t) => chat(t));
    const meter = meterOf(SSE);
    drive(meter, [opening, chat('Hi'), reported, ...after, DONE]);
    expect(meter.observation()).toEqual({ promptTokens: 1000, completionTokens: 900, totalTokens: 1900, source: 'reported', model: MODEL });
    const unreported = meterOf(SSE);
    drive(unreported, [opening, chat('Hi'), DONE]);
    expect(unreported.observation()).toMatchObject({ source: 'counted', model: MODEL });
    // Events are searched for a usage in batches (over 64 KB) and at the end: the latest wins either way.
    const long = Array.from({ length: 800 }, (_, i) => chat(` word${i} `.repeat(10)));
    const later = sse({ id: 'c', object: 'chat.completion.chunk', model: MODEL, choices: [], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } });
    for (const [chunks, expected] of [
      [[chat('Hi'), reported, ...long, DONE], 1900],
      [[chat('Hi'), reported, ...long, later, ...after, DONE], 7],
      [[chat('Hi'), reported, ...long, later, ...long, DONE], 7],
    ] as const) {
      for (const ceiling of [undefined, 10_000_000]) {
        const m = meterOf(SSE, { completionCeiling: ceiling });
        expect(drive(m, chunks).cut).toBe(false);
        expect(m.observation()).toMatchObject({ totalTokens: expected, source: 'reported' });
      }
    }
  });

  it('takes the usage of a Responses API `response.completed` event', () => {
    const events = [
      `event: response.created\n${sse({ type: 'response.created', response: { id: 'r', model: 'gpt-4.1', usage: null } })}`,
      `event: response.output_text.delta\n${sse({ type: 'response.output_text.delta', delta: 'Hi' })}`,
      `event: response.completed\n${sse({ type: 'response.completed', response: { id: 'r', model: 'gpt-4.1', usage: { input_tokens: 30, output_tokens: 1, total_tokens: 31, output_tokens_details: { reasoning_tokens: 0 } } } })}`,
    ];
    const meter = meterOf(SSE, { endpoint: 'responses' });
    expect(text(drive(meter, bytesOf(events.join(''), 10)))).toBe(events.join(''));
    expect(meter.observation()).toEqual({ promptTokens: 30, completionTokens: 1, totalTokens: 31, source: 'reported', model: 'gpt-4.1' });
  });
});

describe('SseMeter: counted usage', () => {
  it('counts text, reasoning and tool-call deltas, legacy completions and Responses deltas like gpt-tokenizer', () => {
    const events = [
      sse({ model: MODEL, choices: [{ delta: { role: 'assistant', reasoning_content: 'Think first.' } }] }),
      sse({ choices: [{ delta: { tool_calls: [{ index: 0, function: { name: 'get_weather', arguments: '{"city":' } }] } }] }),
      sse({ choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] } }] }),
      sse({ choices: [{ text: ' legacy text' }] }),
      sse({ type: 'response.output_text.delta', delta: ' résumé' }),
      sse({ type: 'response.audio.delta', delta: 'AAAAAAAAAAAAAAAA' }),
      DONE,
    ];
    const meter = meterOf(SSE);
    drive(meter, events);
    // The delivered text is counted as a whole (pieces split mid-token are not over-counted).
    const expected = countTokens(['Think first.', 'get_weather', '{"city":', '"Paris"}', ' legacy text', ' résumé'].join(''));
    expect(meter.observation()).toEqual({ promptTokens: 11, completionTokens: expected, totalTokens: 11 + expected, source: 'counted', model: MODEL });
    // Token-aligned deltas, as upstreams send them, sum to the count of the whole text.
    expect(tokens('Hello', ',', ' world', '!')).toBe(countTokens('Hello, world!'));
  });

  it('observes what was delivered when the stream stops before its end (the client left, the upstream failed)', () => {
    // The relay asks for the observation without calling end: charged for the events delivered, not for nothing.
    const meter = meterOf(SSE);
    const got: Buffer[] = [];
    for (const event of [chat('Hello'), chat(' world'), 'data: {"choices":[{"delta":{"content":" unfinished']) meter.write(Buffer.from(event), (b) => void got.push(b));
    expect(got).toHaveLength(3);
    expect(meter.observation()).toEqual(counted('Hello', ' world'));
    expect(tokens('Hello', ' world')).toBeGreaterThan(0);
  });

  it('reads a last event that lacks its blank line when the stream ends', () => {
    const meter = meterOf(SSE);
    const last = chat(' world').trimEnd();
    expect(text(drive(meter, [chat('Hello'), last]))).toBe(chat('Hello') + last);
    expect(meter.observation()).toEqual(counted('Hello', ' world'));
  });
});
