import { describe, expect, it } from 'vitest';
import { quickFacts } from './usage-quick.js';

const usage = { prompt_tokens: 14, completion_tokens: 20, total_tokens: 34, prompt_tokens_details: { cached_tokens: 0 } };
const chat = {
  id: 'chatcmpl-1', object: 'chat.completion', created: 1, model: 'gpt-4o-mini-2024-07-18',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hi "there" {"usage": {"total_tokens": 1}}', refusal: null }, finish_reason: 'stop' }],
  usage, service_tier: 'default', system_fingerprint: 'fp_1',
};
const quick = (doc: string) => quickFacts(Buffer.from(doc));

/** What a full parse says, in the shape quickFacts answers with. */
function full(doc: string): { model: unknown; usage: unknown } | undefined {
  try {
    const v = JSON.parse(doc) as Record<string, unknown>;
    return { model: v.model, usage: v.usage };
  } catch {
    return undefined;
  }
}

describe('quickFacts: the top-level model and usage without a full parse', () => {
  it.each([
    ['a chat answer', JSON.stringify(chat)],
    ['a chat answer, pretty-printed', JSON.stringify(chat, null, 2)],
    ['a stream usage chunk', JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [], usage })],
    ['an embeddings answer', JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, -0.2] }], model: 'text-embedding-3-small', usage: { prompt_tokens: 8, total_tokens: 8 } })],
    ['a model with escapes', JSON.stringify({ model: 'a\\"b\u00e9', usage })],
  ])('reads %s as a full parse does', (_name, doc) => {
    expect(quick(doc)).toEqual(full(doc));
  });

  it.each([
    ['usage nested in response (Responses API events)', JSON.stringify({ type: 'response.completed', response: { model: 'm', usage } })],
    ['usage inside a string only', JSON.stringify({ model: 'm', choices: [{ message: { content: '{"usage": {"total_tokens": 9}}' } }] })],
    ['a key that ends in "usage" after an escaped quote', '{"model":"m","x\\"usage": {"total_tokens": 9}}'],
    ['usage: null', JSON.stringify({ model: 'm', usage: null })],
    ['the model after the usage', JSON.stringify({ usage, model: 'm' })],
    ['two models', '{"model":"a","model":"b","usage":{"total_tokens":3}}'],
    ['a nested model only', JSON.stringify({ choices: [{ model: 'x' }], usage })],
    ['a model that is not a string', JSON.stringify({ model: 7, usage })],
    ['usage in the last element of an array', JSON.stringify({ model: 'm', data: [{ usage }] })],
    ['an array at the root', JSON.stringify([{ model: 'm', usage }])],
    ['a document cut short', JSON.stringify(chat).slice(0, -1)],
    ['bytes after the document', `${JSON.stringify(chat)} x`],
    ['a usage object cut short', '{"model":"m","usage":{"total_tokens":3'],
  ])('leaves %s to the full parse', (_name, doc) => {
    expect(quick(doc)).toBeUndefined();
  });

  it('never disagrees with a full parse of a valid document, whatever bytes are changed', () => {
    const base = JSON.stringify(chat);
    const alphabet = '{}[]":,\\ 0a';
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let answered = 0;
    for (let round = 0; round < 20_000; round++) {
      const bytes = [...base];
      for (let k = 1 + random(3); k > 0; k--) bytes[random(bytes.length)] = alphabet[random(alphabet.length)] as string;
      const doc = bytes.join('');
      const q = quick(doc);
      const f = full(doc);
      if (q && f) {
        answered++;
        expect(q).toEqual(f);
      }
    }
    expect(answered).toBeGreaterThan(1000); // the changes that keep it valid still take the quick path
  });
});
