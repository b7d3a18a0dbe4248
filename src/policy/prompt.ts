import { countText, loadTokenizer, tokenizerReady } from './tokenizer.js';
import { countSoon, tokenizerLoadedSomewhere } from './tokenizer-thread.js';

/**
 * An upper bound on a prompt's tokens that needs no tokenizer: its UTF-8 bytes (a token of
 * the o200k encoding is at least one byte). Admission reserves this; the tokenizer's ~70 MB
 * of tables are loaded only if the bound is refused (see PolicyEngine.admit).
 */
export function promptBound(text: string): number {
  return Buffer.byteLength(text);
}

/**
 * The prompt's token count, loading the tokenizer first if need be. A long text is counted a
 * slice at a time, each in its own turn of the event loop, so other requests (and /healthz)
 * are answered meanwhile; slices end before a space, where the encoder splits words anyway.
 * Counting stops once `stopAt` is reached: the caller only needs to know it is that many.
 */
export async function exactPrompt(text: string, stopAt = Infinity): Promise<number> {
  if (!tokenizerReady()) await loadTokenizer();
  let total = 0;
  for (let at = 0; at < text.length && total < stopAt; ) {
    const end = sliceEnd(text, at);
    if (at > 0) await new Promise((resolve) => setImmediate(resolve));
    total += countText(text.slice(at, end));
    at = end;
  }
  return total;
}

/** Characters counted in one turn: a few milliseconds of the tokenizer. */
const SLICE = 16_384;

function sliceEnd(text: string, at: number): number {
  if (text.length - at <= SLICE) return text.length;
  const space = text.lastIndexOf(' ', at + SLICE);
  if (space > at + SLICE / 2) return space;
  // No space near: never split a surrogate pair.
  const end = at + SLICE;
  const code = text.charCodeAt(end);
  return code >= 0xdc00 && code <= 0xdfff ? end + 1 : end;
}

/**
 * The prompt's figure for the ledger when the upstream reported none, without holding the event
 * loop: a long text a slice at a time; while the tokenizer is not loaded here, counted by its
 * thread — for an answer whose text was `counted` (as its completion is), or once that thread
 * has its tables — else estimated as promptFigure does.
 */
export function promptFigureSoon(text: string | undefined, bodyBytes: number, counted = false): number | Promise<number> {
  if (text !== undefined && text.length > SLICE && tokenizerReady()) return exactPrompt(text);
  if (text !== undefined && !tokenizerReady() && (counted || tokenizerLoadedSomewhere())) return countSoon(text);
  return promptFigure(text, bodyBytes);
}

/**
 * The prompt's tokens for the ledger when the upstream reported none: exact once the
 * tokenizer is loaded here, else the
 * usual four bytes a token — the row's source says `estimated` then. Without readable text
 * (multipart, or a body too large to inspect): body bytes ÷ 3.
 */
export function promptFigure(text: string | undefined, bodyBytes: number): number {
  if (text === undefined) return Math.ceil(bodyBytes / 3);
  if (text === '') return 0;
  return tokenizerReady() ? countText(text) : Math.max(1, Math.ceil(Buffer.byteLength(text) / 4));
}
