import { describe, expect, it } from 'vitest';
import { BoundedBytes } from './usage-bounded.js';

const bounded = (text: string, limit?: number): BoundedBytes => {
  const b = new BoundedBytes(limit);
  b.push(Buffer.from(text.slice(0, 7)));
  b.push(Buffer.from(text.slice(7)));
  return b;
};

describe('BoundedBytes.valueBytes', () => {
  it('counts the bytes of string values only, never keys, numbers or punctuation', () => {
    expect(bounded('{"a":"xyz","bb" : 12,"c":["de",null,{"f":"g"}]}').valueBytes()).toBe(3 + 2 + 1);
    expect(bounded('{"id":"chatcmpl-1","choices":[{"delta":{"content":"Hi"}}],"usage":null}').valueBytes()).toBe(10 + 2);
  });

  it('stays an upper bound of the decoded text with escapes, escaped quotes and multi-byte text', () => {
    const value = { content: 'say "hi"\\ \n 日本語 \u0001 "', key: '"' };
    const json = JSON.stringify(value);
    const textBytes = Buffer.byteLength(value.content) + Buffer.byteLength(value.key);
    expect(bounded(json).valueBytes()).toBeGreaterThanOrEqual(textBytes);
    expect(bounded(json).valueBytes()).toBeLessThan(Buffer.byteLength(json));
  });

  it('falls back to every byte seen when the document was too large to keep whole, or is cut off', () => {
    const big = JSON.stringify({ a: 'x'.repeat(100), b: 'y'.repeat(100) });
    expect(bounded(big, 64).valueBytes()).toBe(Buffer.byteLength(big));
    expect(bounded('{"a":"unterminated').valueBytes()).toBe('unterminated'.length + 1);
  });
});
