import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { loadTokenizer, tokenizerReady, tokenizerRequested } from './tokenizer.js';
import { CUTOFF_EVENT, SseMeter } from './stream.js';

// A file of its own: the tokenizer starts unloaded here, as in a process's first metered stream.
const event = (content: string): Buffer =>
  Buffer.from(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta: { content } }] })}\n\n`);
const meterUnder = (completionCeiling: number) => new SseMeter({ endpoint: 'chat', contentType: 'text/event-stream', completionCeiling });
const words = Array.from({ length: 12 }, (_, i) => ` word${i}`);

describe('SseMeter before the tokenizer is loaded: nothing waits for it', () => {
  it('passes events on without it, and without loading it, while their text stays under half the ceiling', () => {
    const meter = meterUnder(100);
    const out: Buffer[] = [];
    for (const word of ['one', ' two', ' three']) expect(meter.write(event(word), (b) => out.push(b))).toBe(false);
    expect(Buffer.concat(out).toString()).toBe(['one', ' two', ' three'].map((w) => event(w).toString()).join(''));
    expect(tokenizerRequested()).toBe(false);
  });

  it('decides at once where an exact count is due (the text bytes bound the tokens: the reservation is never passed), and counts after', async () => {
    // Past half the ceiling: the tables start loading (exact counts may be due soon); the event still goes on at once.
    const early = meterUnder(100);
    const long = event(' ' + 'x'.repeat(60));
    const passed: Buffer[] = [];
    expect(early.write(long, (b) => void passed.push(b))).toBe(false);
    expect(Buffer.concat(passed).equals(long)).toBe(true);
    expect(tokenizerRequested()).toBe(true);

    const ceiling = countTokens(words.slice(0, 10).join(''));
    const meter = meterUnder(ceiling);
    const out: Buffer[] = [];
    // All twelve events in one chunk: the text bound passes the ceiling part-way through.
    expect(meter.write(Buffer.concat(words.map(event)), (b) => void out.push(b))).toBe(true);
    const fit = words.filter((_, i) => Buffer.byteLength(words.slice(0, i + 1).join('')) <= ceiling);
    expect(Buffer.concat(out).toString()).toBe(fit.map((w) => event(w).toString()).join('') + CUTOFF_EVENT.toString());
    expect(countTokens(fit.join(''))).toBeLessThanOrEqual(ceiling);
    expect(tokenizerReady()).toBe(false); // still loading, in the background, for the counts to come
    // The delivered text is counted once the tokenizer is in: the usage is a promise meanwhile.
    const observed = meter.observation();
    expect(observed).toBeInstanceOf(Promise);
    expect(await observed).toMatchObject({ completionTokens: countTokens(fit.join('')), source: 'counted' });
  });

  it('cuts off at the exact count once the tokenizer is in', async () => {
    await loadTokenizer();
    const ceiling = countTokens(words.slice(0, 10).join(''));
    const meter = meterUnder(ceiling);
    const out: Buffer[] = [];
    expect(meter.write(Buffer.concat(words.map(event)), (b) => void out.push(b))).toBe(true);
    expect(Buffer.concat(out).toString()).toBe(words.slice(0, 10).map((w) => event(w).toString()).join('') + CUTOFF_EVENT.toString());
    expect(meter.observation()).toMatchObject({ completionTokens: ceiling, source: 'counted' });
  });
});
