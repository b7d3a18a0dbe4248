import { describe, expect, it } from 'vitest';
import { BoundedBytes } from './bounded.js';
import { StreamFacts } from './facts.js';

const data = (value: unknown): BoundedBytes => {
  const bytes = new BoundedBytes();
  bytes.push(Buffer.from(JSON.stringify(value)));
  return bytes;
};
const usage = (total: number) => ({ prompt_tokens: 1, completion_tokens: total - 1, total_tokens: total });
const withUsage = (total: number) => ({ model: 'm', choices: [], usage: usage(total) });
const text = (content: string) => ({ model: 'm', choices: [{ index: 0, delta: { content } }] });
/** Events enough to pass the 64 KB after which held events are searched (and most let go). */
const filler = (facts: StreamFacts) => {
  for (let i = 0; i < 70; i++) facts.seen(data(text('x'.repeat(1000))));
};
const total = (facts: StreamFacts) => {
  facts.resolve();
  return facts.reported?.total;
};

describe('StreamFacts: the latest valid usage wins wherever the searches fall', () => {
  it('a usage read on the way wins over an older one, searched late or early', () => {
    for (const early of [false, true]) {
      const facts = new StreamFacts();
      facts.seen(data(withUsage(5)));
      if (early) filler(facts);
      facts.parsed(withUsage(7));
      facts.seen(data(text('after')));
      expect(total(facts)).toBe(7);
    }
  });

  it('a later usage wins over one read on the way, searched late or early', () => {
    for (const early of [false, true]) {
      const facts = new StreamFacts();
      facts.parsed(withUsage(7));
      facts.seen(data(withUsage(9)));
      if (early) filler(facts);
      facts.seen(data(text('after')));
      expect(total(facts)).toBe(9);
    }
  });

  it('reads the same last usage objects whenever the search ran: four invalid ones after a valid one leave none', () => {
    for (const early of [false, true]) {
      const facts = new StreamFacts();
      facts.seen(data(withUsage(5)));
      for (let i = 0; i < 4; i++) facts.seen(data({ model: 'm', usage: { tokens: 'many' } }));
      if (early) filler(facts);
      expect(total(facts)).toBeUndefined();
      const three = new StreamFacts();
      three.seen(data(withUsage(5)));
      for (let i = 0; i < 3; i++) three.seen(data({ model: 'm', usage: { tokens: 'many' } }));
      if (early) filler(three);
      expect(total(three)).toBe(5);
    }
  });
});
