/**
 * The o200k_base tokenizer of current OpenAI models, loaded on first need: its tables take
 * about 70 MB, which a deployment that never counts tokens (no budgets, upstreams that report
 * usage) should not carry. `loadTokenizer()` is awaited before the first count; `countText`
 * is synchronous for the response tap, which never waits for it (see SseMeter).
 */
type Count = (text: string) => number;

let count: Count | undefined;
let loading: Promise<Count> | undefined;
let failed = false;

export function loadTokenizer(): Promise<Count> {
  loading ??= import('gpt-tokenizer/encoding/o200k_base').then((m) => {
    // Special-token text (e.g. "<|endoftext|>") in a prompt or an answer is counted as text.
    count = (text) => m.countTokens(text, { disallowedSpecial: new Set<string>() });
    return count;
  });
  loading.catch(() => (failed = true));
  return loading;
}

/** Whether the tables have been asked for (they may still be loading). */
export function tokenizerRequested(): boolean {
  return loading !== undefined;
}

/** Whether counting can go on now: the tables are loaded, or could not be (counts are then estimates). */
export function tokenizerSettled(): boolean {
  return count !== undefined || failed;
}

/** Whether counts are exact now (the tables are loaded). */
export function tokenizerReady(): boolean {
  return count !== undefined;
}

/** Tokens in `text`; before the tokenizer is loaded, a bytes ÷ 4 estimate (never 0 for text). */
export function countText(text: string): number {
  if (text === '') return 0;
  if (count) return count(text);
  void loadTokenizer();
  return Math.max(1, Math.ceil(Buffer.byteLength(text) / 4));
}
