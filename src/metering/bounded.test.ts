import { describe, expect, it } from 'vitest';
import { BoundedBytes } from './bounded.js';
import { deltaText } from './count.js';

const bounded = (text: string, limit?: number): BoundedBytes => {
  const b = new BoundedBytes(limit);
  b.push(Buffer.from(text.slice(0, 7)));
  b.push(Buffer.from(text.slice(7)));
  return b;
};

describe('BoundedBytes.valueBytes', () => {
  it('counts the bytes of the string values of text-bearing keys only, never other keys, values or punctuation', () => {
    expect(bounded('{"a":"xyz","content" : "abc","bb" : 12,"c":["de",null,{"text":"g"}]}').valueBytes()).toBe(3 + 1);
    expect(bounded('{"id":"chatcmpl-1","model":"m","choices":[{"delta":{"role":"assistant","content":"Hi"}}],"usage":null}').valueBytes()).toBe(2);
    const call = { choices: [{ delta: { tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get', arguments: '{"a":1}' } }] } }] };
    expect(bounded(JSON.stringify(call)).valueBytes()).toBe('get'.length + JSON.stringify('{"a":1}').length - 2);
    expect(bounded('{"type":"response.output_text.delta","item_id":"x","delta":"Hey"}').valueBytes()).toBe(3);
  });

  it('counts the value of a key written with an escape, which a parse may read as a text key', () => {
    expect(bounded('{"con\\u0074ent":"abcd","x":"y"}').valueBytes()).toBe(4);
  });

  it('stays an upper bound of the decoded text with escapes, escaped quotes and multi-byte text', () => {
    const value = { content: 'say "hi"\\ \n 日本語 \u0001 "', refusal: '"', id: 'not text' };
    const json = JSON.stringify(value);
    const textBytes = Buffer.byteLength(value.content) + Buffer.byteLength(value.refusal);
    expect(bounded(json).valueBytes()).toBeGreaterThanOrEqual(textBytes);
    expect(bounded(json).valueBytes()).toBeLessThan(Buffer.byteLength(json));
  });

  it('is never below the bytes of the text deltaText reads, for random events', () => {
    const pick = <T>(xs: readonly T[], r: number): T => xs[r % xs.length] as T;
    const texts = ['', 'a', ' wörd', '"q"', '\\', '日本', '{"x":"y"}', '\u0000'];
    for (let seed = 1; seed < 500; seed++) {
      const r = (k: number) => (seed * 7919 + k * 104729) % 1009;
      const delta: Record<string, unknown> = { role: pick(['assistant', 'tool'], r(1)) };
      for (const f of ['content', 'reasoning_content', 'reasoning', 'refusal']) if (r(f.length) % 2) delta[f] = pick(texts, r(f.length + 3));
      if (r(9) % 3 === 0) delta.tool_calls = [{ id: pick(texts, r(10)), function: { name: pick(texts, r(11)), arguments: pick(texts, r(12)) } }];
      const event = { id: pick(texts, r(13)), model: pick(texts, r(14)), choices: [{ index: 0, text: pick(texts, r(15)), delta }], usage: null };
      const json = JSON.stringify(event);
      expect(bounded(json).valueBytes()).toBeGreaterThanOrEqual(Buffer.byteLength(deltaText(JSON.parse(json))));
    }
  });

  it('falls back to every byte seen when the document was too large to keep whole, or is cut off', () => {
    const big = JSON.stringify({ a: 'x'.repeat(100), b: 'y'.repeat(100) });
    expect(bounded(big, 64).valueBytes()).toBe(Buffer.byteLength(big));
    expect(bounded('{"a":"unterminated').valueBytes()).toBe('unterminated'.length + 1);
  });
});
