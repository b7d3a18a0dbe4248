import { describe, expect, it } from 'vitest';
import type { UsageObservation } from './ports.js';
import { SseMeter } from './stream.js';
import { withoutNullUsage } from './strip.js';

const MODEL = 'gpt-4o-mini-2024-07-18';
const USAGE = { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 };

/** A chunk as OpenAI sends it; with include_usage, `"usage":null` last. */
const chunk = (content: string, withUsage: boolean, eol = '\n'): string =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: MODEL, choices: [{ index: 0, delta: { content }, finish_reason: null }], ...(withUsage ? { usage: null } : {}) })}${eol}${eol}`;
const usageChunk = (eol = '\n'): string => `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: MODEL, choices: [], usage: USAGE })}${eol}${eol}`;
const DONE = 'data: [DONE]\n\n';

/** The same stream as the upstream sends it with include_usage, and as it would without. */
function streams(eol = '\n'): { asked: string; plain: string } {
  const words = ['Hel', 'lo', ' wor', 'ld'];
  return {
    asked: words.map((w) => chunk(w, true, eol)).join('') + usageChunk(eol) + DONE,
    plain: words.map((w) => chunk(w, false, eol)).join('') + DONE,
  };
}

/** Runs `pieces` through a meter that strips, as the relay does; what the client got, and the usage read. */
function relay(pieces: Buffer[], ceiling?: number): { out: string; usage: UsageObservation | Promise<UsageObservation> } {
  const meter = new SseMeter({ endpoint: 'chat', contentType: 'text/event-stream', stripUsage: true, completionCeiling: ceiling });
  const out: Buffer[] = [];
  const push = (b: Buffer) => out.push(b);
  for (const p of pieces) meter.write(p, push);
  meter.end(push);
  return { out: Buffer.concat(out).toString(), usage: meter.observation() };
}

function cut(text: string, size: number): Buffer[] {
  const all = Buffer.from(text);
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i += size) out.push(all.subarray(i, i + size));
  return out;
}

describe('taking out the usage soakp asked for', () => {
  it('gives the client byte for byte what the upstream sends without include_usage, and reads the usage', () => {
    const { asked, plain } = streams();
    const { out, usage } = relay(asked.split(/(?<=\n\n)/).map((e) => Buffer.from(e)));
    expect(out).toBe(plain);
    expect(usage).toEqual({ promptTokens: 9, completionTokens: 3, totalTokens: 12, source: 'reported', model: MODEL });
  });

  it('does so however the upstream cuts its bytes, with CRLF line ends too, and under a budget ceiling', () => {
    for (const eol of ['\n', '\r\n']) {
      const { asked, plain } = streams(eol);
      for (const size of [1, 7, 64, 100_000]) {
        expect(relay(cut(asked, size)).out, `eol ${JSON.stringify(eol)}, ${size}-byte pieces`).toBe(plain);
        expect(relay(cut(asked, size), 1000).out).toBe(plain);
      }
    }
  });

  it('leaves a stream without usage as it is (an upstream that ignores stream_options), which is then counted', async () => {
    const { plain } = streams();
    const { out, usage } = relay(cut(plain, 50));
    expect(out).toBe(plain);
    expect(await usage).toMatchObject({ source: 'counted', completionTokens: 2 });
  });

  it('removes "usage": null in any spacing and place, and nothing that only looks like it', () => {
    expect(withoutNullUsage(Buffer.from('data: {"a":1, "usage" : null }\n\n')).toString()).toBe('data: {"a":1 }\n\n');
    expect(withoutNullUsage(Buffer.from('data: {"usage":null,"a":1}\n\n')).toString()).toBe('data: {"a":1}\n\n');
    expect(withoutNullUsage(Buffer.from('data: {"usage":null}\n\n')).toString()).toBe('data: {}\n\n');
    const untouched = ['data: {"c":"say \\"usage\\":null"}\n\n', 'data: {"usage":{"total_tokens":1}}\n\n', 'data: {"usage":nullish}\n\n', 'data: [DONE]\n\n'];
    for (const text of untouched) expect(withoutNullUsage(Buffer.from(text)).toString()).toBe(text);
    const same = Buffer.from('data: {"a":1}\n\n');
    expect(withoutNullUsage(same)).toBe(same); // no copy when there is nothing to take out
  });
});
