import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { loadTokenizer, tokenizerReady, tokenizerRequested } from './tokenizer.js';
import { countSoon, tokenizerLoadedSomewhere } from './tokenizer-thread.js';

// A file of its own: the tokenizer starts unloaded here.
describe('counts that can wait are made off the event loop until it has its own tokenizer', () => {
  it('counts in the worker thread without loading the tables here, exactly as they would be counted here', async () => {
    const text = 'Hello world, <|endoftext|> and some more text: counted as text';
    const counted = countSoon(text);
    expect(counted).toBeInstanceOf(Promise);
    expect(await counted).toBe(countTokens(text, { disallowedSpecial: new Set() }));
    expect(tokenizerRequested()).toBe(false);
    expect(tokenizerLoadedSomewhere()).toBe(true);
    expect(countSoon('')).toBe(0);
  });

  it('counts here, at once, once the tables are loaded here', async () => {
    await loadTokenizer();
    expect(tokenizerReady()).toBe(true);
    expect(countSoon('Hello world')).toBe(countTokens('Hello world'));
  });
});
