import { describe, expect, it } from 'vitest';
import { topFields } from './json-top.js';

const USAGE = { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21, prompt_tokens_details: { cached_tokens: 0 } };
const completion = (content: string, extra: Record<string, unknown> = {}) => ({
  id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini-2024-07-18',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  usage: USAGE, service_tier: 'default', system_fingerprint: 'fp_1', ...extra,
});
const top = (value: unknown, space?: number) => topFields(Buffer.from(JSON.stringify(value, null, space)));

describe('topFields (usage and model without a full parse)', () => {
  it('reads a chat completion, compact or pretty-printed', () => {
    expect(top(completion('Hello!'))).toEqual({ model: 'gpt-4o-mini-2024-07-18', usage: USAGE });
    expect(top(completion('Hello!'), 2)).toEqual({ model: 'gpt-4o-mini-2024-07-18', usage: USAGE });
  });

  it('is not fooled by keys inside strings or nested objects', () => {
    const tricky = completion('say "usage": {"prompt_tokens": 999} and "model": "x"', { tool: { model: 'inner' } });
    expect(top(tricky)).toEqual({ model: 'gpt-4o-mini-2024-07-18', usage: USAGE });
  });

  it('has no usage when none is there, and finds the model', () => {
    expect(top({ id: 'x', model: 'm', data: [1, 2] })).toEqual({ model: 'm', usage: undefined });
    expect(top({ id: 'x', model: 'm', choices: [{ delta: { content: 'a' } }], usage: null })).toEqual({ model: 'm', usage: null });
  });

  it('gives up (undefined) on what it cannot prove, so the caller parses the whole', () => {
    expect(top({ response: { model: 'm', usage: USAGE } })).toBeUndefined(); // nested: the Responses API event shape
    expect(top({ usage: USAGE, extra: { usage: { prompt_tokens: 1 } } })).toBeUndefined(); // the last one is nested
    expect(top({ object: 'model', model: 'm', usage: USAGE })).toBeUndefined(); // "model" first as a value
    expect(top({ model: 'a\\"b', usage: USAGE })).toBeUndefined(); // an escape in the model
    expect(top({ usage: null, x: { usage: null } })).toBeUndefined();
    expect(topFields(Buffer.from('[1,2]'))).toBeUndefined();
    expect(topFields(Buffer.from('{"model": "m", "usage": {"prompt_tokens": 1'))).toBeUndefined();
    expect(topFields(Buffer.from('<html>502</html>'))).toBeUndefined();
  });

  it('agrees with a full parse whenever it answers (random documents)', () => {
    let answered = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const doc = randomDocument(seed);
      const text = JSON.stringify(doc, null, seed % 3 === 0 ? 1 : undefined);
      const fast = topFields(Buffer.from(text));
      if (!fast) continue;
      answered++;
      const full = JSON.parse(text) as Record<string, unknown>;
      expect(fast.usage).toEqual(full.usage);
      const model = typeof full.model === 'string' && full.model !== '' ? full.model : undefined;
      expect(fast.model).toEqual(model);
    }
    expect(answered).toBeGreaterThan(200);
  });
});

/** A document with `model` and `usage` keys at random depths and places, and strings that look like them. */
function randomDocument(seed: number): Record<string, unknown> {
  let s = seed;
  const rand = (n: number) => ((s = (s * 1103515245 + 12345) % 2147483648), s % n);
  const strings = ['"usage": {"a": 1}', 'model', '\\', '"', '{}[]', 'plain', '\\"usage\\":{'];
  const leaf = (): unknown => (rand(3) === 0 ? rand(1000) : strings[rand(strings.length)]);
  const value = (depth: number): unknown => {
    if (depth > 2 || rand(3) === 0) return leaf();
    const o: Record<string, unknown> = {};
    for (let i = rand(4); i > 0; i--) o[['usage', 'model', 'x', 'content'][rand(4)] as string] = value(depth + 1);
    return rand(4) === 0 ? [o, leaf()] : o;
  };
  const doc: Record<string, unknown> = {};
  for (let i = rand(6) + 1; i > 0; i--) {
    const key = ['id', 'model', 'choices', 'usage', 'tail'][rand(5)] as string;
    doc[key] = key === 'usage' && rand(2) === 0 ? (rand(3) === 0 ? null : { prompt_tokens: rand(100), total_tokens: rand(200) }) : key === 'model' && rand(2) === 0 ? `m-${rand(9)}` : value(1);
  }
  return doc;
}
