import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JSON_TYPE, MODEL, SSE, bytesOf, drive, meterOf, text } from '../../test/helpers/metering.js';
import { JsonMeter, OpaqueMeter } from './meter.js';
import { meterFor } from './meter-for.js';
import { SseMeter } from './stream.js';

// The meters that need no tokenizer: JSON answers and opaque bytes. SSE: sse-meter.test.ts, sse-ceiling.test.ts.

describe('meterFor', () => {
  it('picks the meter by media type, whatever its case and parameters', () => {
    const of = (contentType: string) => meterFor({ endpoint: 'chat', contentType });
    expect(of('TEXT/EVENT-STREAM; charset=utf-8')).toBeInstanceOf(SseMeter);
    expect(of(' text/event-stream')).toBeInstanceOf(SseMeter);
    for (const json of [JSON_TYPE, 'application/json; charset=utf-8', 'application/problem+json']) expect(of(json)).toBeInstanceOf(JsonMeter);
    for (const opaque of ['audio/mpeg', 'text/plain', 'application/octet-stream', '']) {
      const meter = of(opaque);
      expect(meter).toBeInstanceOf(OpaqueMeter);
      expect(meter).not.toBeInstanceOf(JsonMeter);
    }
  });
});

describe('JsonMeter', () => {
  it('passes a JSON answer on byte for byte and reads its reported usage and model', () => {
    const answer = JSON.stringify({ id: 'c', object: 'chat.completion', model: MODEL, choices: [{ message: { content: 'hé 🙂' } }], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } });
    const meter = meterOf(JSON_TYPE);
    const pieces = bytesOf(answer, 7);
    const driven = drive(meter, pieces);
    // Each chunk goes on at once, as it came: the cuts through 'é' and '🙂' are the upstream's.
    expect(driven.pushed).toEqual(pieces);
    expect(text(driven)).toBe(answer);
    expect(driven.cut).toBe(false);
    expect(meter.observation()).toEqual({ promptTokens: 9, completionTokens: 3, totalTokens: 12, source: 'reported', model: MODEL });
  });

  it('reads embeddings and Responses API JSON usage shapes', () => {
    const embeddings = JSON.stringify({ object: 'list', data: [{ embedding: [0.1, -0.2] }], model: 'text-embedding-3-small', usage: { prompt_tokens: 8, total_tokens: 8 } });
    const e = meterOf(JSON_TYPE, { endpoint: 'embeddings' });
    expect(text(drive(e, [embeddings]))).toBe(embeddings);
    expect(e.observation()).toEqual({ promptTokens: 8, completionTokens: 0, totalTokens: 8, source: 'reported', model: 'text-embedding-3-small' });
    const response = JSON.stringify({ object: 'response', model: 'o4-mini', output: [], usage: { input_tokens: 5, output_tokens: 7, total_tokens: 12 } });
    const r = meterOf('application/json; charset=utf-8', { endpoint: 'responses' });
    expect(text(drive(r, [response]))).toBe(response);
    expect(r.observation()).toEqual({ promptTokens: 5, completionTokens: 7, totalTokens: 12, source: 'reported', model: 'o4-mini' });
  });

  it('finds the usage at the end of a JSON answer larger than it keeps', () => {
    const vector = Array.from({ length: 1536 }, (_, i) => (i % 7) / 7);
    const data = Array.from({ length: 400 }, (_, index) => ({ object: 'embedding', index, embedding: vector }));
    const answer = JSON.stringify({ object: 'list', data, model: 'text-embedding-3-large', usage: { prompt_tokens: 4000, total_tokens: 4000 } });
    expect(answer.length).toBeGreaterThan(5 * 1024 * 1024);
    const meter = meterOf(JSON_TYPE, { endpoint: 'embeddings' });
    const driven = drive(meter, bytesOf(answer, 65_536));
    expect(Buffer.concat(driven.pushed).equals(Buffer.from(answer))).toBe(true);
    expect(meter.observation()).toEqual({ promptTokens: 4000, completionTokens: 0, totalTokens: 4000, source: 'reported', model: 'text-embedding-3-large' });
  });

  it('estimates a JSON answer without usage from the prompt estimate', () => {
    const meter = meterOf(JSON_TYPE);
    drive(meter, ['{"error":{"message":"nope"}}']);
    expect(meter.observation()).toEqual({ promptTokens: 11, completionTokens: 0, totalTokens: 11, source: 'estimated', model: undefined });
    // The data plane passes no estimate: its ticket works the prompt out itself.
    const bare = meterFor({ endpoint: 'chat', contentType: JSON_TYPE });
    drive(bare, ['{}']);
    expect(bare.observation()).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0, source: 'estimated', model: undefined });
  });

  it('ignores a ceiling: a JSON answer is whole when it comes, and is never cut off', () => {
    const answer = JSON.stringify({ model: MODEL, choices: [{ message: { content: 'word '.repeat(500) } }], usage: { prompt_tokens: 1, completion_tokens: 500, total_tokens: 501 } });
    const meter = meterOf(JSON_TYPE, { completionCeiling: 1 });
    const driven = drive(meter, bytesOf(answer, 100));
    expect(driven.cut).toBe(false);
    expect(text(driven)).toBe(answer);
    expect(meter.observation()).toMatchObject({ completionTokens: 500, source: 'reported' });
  });
});

describe('OpaqueMeter', () => {
  it('passes binary answers on untouched, chunk for chunk, and counts no tokens', () => {
    const audio = randomBytes(200_000);
    const pieces = [audio.subarray(0, 1), audio.subarray(1, 70_001), audio.subarray(70_001)];
    const meter = meterOf('audio/mpeg', { endpoint: 'audio', completionCeiling: 1 });
    const driven = drive(meter, pieces);
    expect(driven.pushed.length).toBe(pieces.length);
    expect(driven.pushed.every((b, i) => b.equals(pieces[i] as Buffer))).toBe(true);
    expect(Buffer.concat(driven.pushed).equals(audio)).toBe(true);
    expect(driven.cut).toBe(false);
    expect(meter.observation()).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0, source: 'none' });
  });
});
