import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { loadTokenizer, tokenizerReady } from './tokenizer.js';
import { WAIT } from './usage-meter.js';
import { SseMeter } from './usage-stream.js';

// A file of its own, like usage-wait.test.ts: the tokenizer starts unloaded here.
const event = (content: string): Buffer =>
  Buffer.from(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { content } }] })}\n\n`);

describe('SseMeter resuming after the tokenizer loads', () => {
  it('passes on exactly the rest of the chunk, once, when the count fits the ceiling', async () => {
    const words = Array.from({ length: 12 }, (_, i) => ` word${i}`);
    const meter = new SseMeter({ endpoint: 'chat', contentType: 'text/event-stream', completionCeiling: countTokens(words.join('')) });
    const out: Buffer[] = [];
    const push = (b: Buffer) => void out.push(b);
    const chunk = Buffer.concat(words.map(event));
    expect(meter.write(chunk, push)).toBe(WAIT);
    const approved = Buffer.concat(out).length;
    expect(approved).toBeGreaterThan(0); // it stopped part-way, after some whole events
    expect(approved).toBeLessThan(chunk.length);
    expect(tokenizerReady()).toBe(false);
    await loadTokenizer();
    expect(meter.resume(push)).toBe(false);
    expect(Buffer.concat(out).equals(chunk)).toBe(true);
    expect(meter.end(push)).toBe(false);
    expect(Buffer.concat(out).equals(chunk)).toBe(true);
  });
});
