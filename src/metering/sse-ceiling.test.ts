import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { CUTOFF, DONE, MODEL, SSE, bytesOf, chat, drive, meterOf, sse, text, tokens } from '../../test/helpers/metering.js';
import { COLLECT_LIMIT } from './bounded.js';
import { CUTOFF_EVENT } from './stream.js';
import { loadTokenizer } from './tokenizer.js';

// The SSE meter under a budget ceiling: events go on whole, and the stream ends in place of the
// event that would pass it. The proxy loads the tokenizer before it meters a stream.
beforeAll(async () => {
  await loadTokenizer();
});

describe('SseMeter: budget ceiling', () => {
  it('ends the stream with one error event in place of the event that would pass the ceiling', () => {
    expect(CUTOFF_EVENT.toString()).toBe(CUTOFF);
    const events = [chat('Hello'), chat(' world'), chat(' and'), chat(' more'), DONE];
    for (const size of [1, 7, 100_000]) {
      const meter = meterOf(SSE, { completionCeiling: tokens('Hello', ' world') });
      const chunks = bytesOf(events.join(''), size);
      const driven = drive(meter, chunks);
      expect(driven.cut).toBe(true); // the write that cut says so: the relay then cancels the upstream call
      expect(text(driven)).toBe(chat('Hello') + chat(' world') + CUTOFF);
      expect(driven.pushed.at(-1)?.toString()).toBe(CUTOFF);
      // Cut at the chunk that completed the third event, not later.
      expect(driven.written).toBe(Math.ceil(Buffer.byteLength(chat('Hello') + chat(' world') + chat(' and')) / size));
      expect(meter.observation()).toEqual({ promptTokens: 11, completionTokens: tokens('Hello', ' world'), totalTokens: 11 + tokens('Hello', ' world'), source: 'counted', model: MODEL });
    }
  });

  it('passes whole events on, and everything when the ceiling is not reached', () => {
    const events = [': ping\r\n\r\n', chat('Hello', '\r\n'), chat(' 日本語', '\r\n'), DONE];
    const meter = meterOf(SSE, { completionCeiling: tokens('Hello', ' 日本語') });
    const driven = drive(meter, bytesOf(events.join(''), 1));
    expect(driven.pushed.map(String)).toEqual(events);
    expect(driven.cut).toBe(false);
    expect(meter.observation()).toMatchObject({ completionTokens: tokens('Hello', ' 日本語'), source: 'counted' });
  });

  it('cuts off at the end of the input when the last event, without its blank line, would pass the ceiling', () => {
    const meter = meterOf(SSE, { completionCeiling: tokens('Hello') });
    const last = chat(' world').trimEnd();
    const driven = drive(meter, [chat('Hello'), last]);
    expect(driven.cut).toBe(true);
    expect(text(driven)).toBe(chat('Hello') + CUTOFF);
    expect(meter.observation()).toMatchObject({ completionTokens: tokens('Hello'), source: 'counted' });
  });

  it('holds the ceiling exactly when the events are far larger than their text', () => {
    // Each event is ~150 bytes for one token of text: the byte bound passes the ceiling at once,
    // so the text bound and then exact counting decide.
    const events = Array.from({ length: 50 }, () => chat(' hello'));
    const total = tokens(' hello'.repeat(50));
    const all = meterOf(SSE, { completionCeiling: total });
    const whole = drive(all, [...events, DONE]);
    expect(whole.cut).toBe(false);
    expect(text(whole)).toBe(events.join('') + DONE);
    expect(all.observation()).toMatchObject({ completionTokens: total, source: 'counted' });
    const cut = meterOf(SSE, { completionCeiling: 10 });
    const ended = drive(cut, [...events, DONE]);
    expect(ended.cut).toBe(true);
    expect(text(ended)).toBe(events.slice(0, 10).join('') + CUTOFF);
    expect(cut.observation()).toMatchObject({ completionTokens: 10, source: 'counted' });
  });

  it('does not hold back an event larger than it keeps (image data), and still reads its usage', () => {
    const image = randomBytes(4_000_000).toString('base64');
    const completed = sse({ type: 'response.completed', response: { model: 'gpt-image-1', output: [{ type: 'image_generation_call', result: image }], usage: { input_tokens: 50, output_tokens: 1000, total_tokens: 1050 } } });
    const stream = sse({ type: 'response.output_text.delta', delta: 'Here' }) + completed;
    const meter = meterOf(SSE, { endpoint: 'responses', completionCeiling: 10 });
    const driven = drive(meter, bytesOf(stream, 65_536));
    expect(driven.cut).toBe(false);
    expect(Buffer.concat(driven.pushed).equals(Buffer.from(stream))).toBe(true);
    expect(Math.max(...driven.pushed.map((c) => c.length))).toBeLessThanOrEqual(COLLECT_LIMIT + 65_536);
    expect(meter.observation()).toEqual({ promptTokens: 50, completionTokens: 1000, totalTokens: 1050, source: 'reported', model: 'gpt-image-1' });
  });
});
