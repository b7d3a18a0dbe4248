import { countText, loadTokenizer, tokenizerReady } from './tokenizer.js';

/**
 * An upper bound on a prompt's tokens that needs no tokenizer: its UTF-8 bytes (a token of
 * the o200k encoding is at least one byte). Admission reserves this; the tokenizer's ~70 MB
 * of tables are loaded only if the bound is refused (see PolicyEngine.admit).
 */
export function promptBound(text: string): number {
  return Buffer.byteLength(text);
}

/** The prompt's exact token count, loading the tokenizer first if need be. */
export function exactPrompt(text: string): Promise<number> {
  return tokenizerReady() ? Promise.resolve(countText(text)) : loadTokenizer().then((count) => count(text));
}

/**
 * The prompt's tokens for the ledger when the upstream reported none: exact once the
 * tokenizer is loaded (a stream counted without reported usage has loaded it), else the
 * usual four bytes a token — the row's source says `estimated` then. Without readable text
 * (multipart, or a body too large to inspect): body bytes ÷ 3.
 */
export function promptFigure(text: string | undefined, bodyBytes: number): number {
  if (text === undefined) return Math.ceil(bodyBytes / 3);
  if (text === '') return 0;
  return tokenizerReady() ? countText(text) : Math.max(1, Math.ceil(Buffer.byteLength(text) / 4));
}
