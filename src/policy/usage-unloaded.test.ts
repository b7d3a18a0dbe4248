import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { tokenizerReady } from './tokenizer.js';
import { WAIT } from './usage-meter.js';
import { CUTOFF_EVENT, SseMeter } from './usage-stream.js';
import { loadTokenizer } from './tokenizer.js';

// A file of its own: the tokenizer starts unloaded here, as in a process's first metered stream.
const event = (content: string): Buffer =>
  Buffer.from(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { content } }] })}\n\n`);

describe('SseMeter before the tokenizer is loaded', () => {
  it('passes events on without it while their bytes cannot reach the ceiling', () => {
    const meter = new SseMeter({ endpoint: 'chat', contentType: 'text/event-stream', completionCeiling: 100 });
    const out: Buffer[] = [];
    for (const word of ['one', ' two', ' three']) expect(meter.write(event(word), (b) => out.push(b))).toBe(false);
    expect(Buffer.concat(out).toString()).toBe(['one', ' two', ' three'].map((w) => event(w).toString()).join(''));
    expect(tokenizerReady()).toBe(false);
  });

  it('stops (WAIT) where an exact count is due, passes on what it approved, and goes on from there once loaded', async () => {
    const words = Array.from({ length: 12 }, (_, i) => ` word${i}`);
    const ceiling = countTokens(words.slice(0, 10).join(''));
    const meter = new SseMeter({ endpoint: 'chat', contentType: 'text/event-stream', completionCeiling: ceiling });
    const out: Buffer[] = [];
    const push = (b: Buffer) => void out.push(b);
    // All twelve events in one chunk: the text bound passes the ceiling part-way through.
    const chunk = Buffer.concat(words.map(event));
    expect(meter.write(chunk, push)).toBe(WAIT);
    const before = Buffer.concat(out).toString();
    expect(chunk.toString().startsWith(before)).toBe(true); // only whole approved events went on
    expect(tokenizerReady()).toBe(false);
    await loadTokenizer();
    expect(meter.resume(push)).toBe(true); // the eleventh word passes the ceiling: cut off there
    expect(Buffer.concat(out).toString()).toBe(words.slice(0, 10).map((w) => event(w).toString()).join('') + CUTOFF_EVENT.toString());
    expect(meter.observation()).toMatchObject({ completionTokens: ceiling, source: 'counted' });
  });
});
