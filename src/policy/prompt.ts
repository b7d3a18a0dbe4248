import type { PromptParts } from './prompt-parts.js';
import { countSoon, countText, loadTokenizer, tokenizerLoadedSomewhere, tokenizerReady } from '../metering/index.js';

/**
 * An upper bound on a prompt's tokens that needs no tokenizer: the UTF-8 bytes of its texts
 * and tool definitions (a token of the o200k encoding is at least one byte), plus the chat
 * format's tokens and the parts taken as they are. Admission reserves this; the tokenizer's
 * ~70 MB of tables are loaded only if the bound is refused (see PolicyEngine.admit).
 */
export function promptBound(p: PromptParts): number {
  let bytes = 0;
  for (const t of p.texts) bytes += Buffer.byteLength(t);
  return bytes + untouched(p);
}

/** What is never counted: the format's tokens, the parts taken as they are, tool definitions by their bytes. */
function untouched(p: PromptParts): number {
  return p.framing + p.fixed + Buffer.byteLength(p.tools);
}

/**
 * The prompt's token count, loading the tokenizer first if need be: each text counted on its
 * own (as the upstream does), plus what is never counted. A long text is counted a slice at
 * a time, each in its own turn of the event loop, so other requests (and /healthz) are
 * answered meanwhile; slices end before a space, where the encoder splits words anyway.
 * Counting stops once `stopAt` is reached: the caller only needs to know it is that many.
 */
export async function exactPrompt(p: PromptParts, stopAt = Infinity): Promise<number> {
  return countedSliced(p.texts, untouched(p), stopAt);
}

async function countedSliced(texts: readonly string[], start: number, stopAt: number): Promise<number> {
  if (!tokenizerReady()) await loadTokenizer();
  let total = start;
  let turn = 0;
  for (const text of texts) {
    for (let at = 0; at < text.length && total < stopAt; ) {
      const end = sliceEnd(text, at);
      turn += end - at;
      if (turn > SLICE) {
        await new Promise((resolve) => setImmediate(resolve));
        turn = end - at;
      }
      total += countText(text.slice(at, end));
      at = end;
    }
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
 * loop: a long prompt a slice at a time; while the tokenizer is not loaded here, counted by its
 * thread — for an answer whose text was `counted` (as its completion is), or once that thread
 * has its tables — else estimated as promptFigure does.
 */
export function promptFigureSoon(p: PromptParts | undefined, bodyBytes: number, counted = false): number | Promise<number> {
  if (p === undefined) return promptFigure(p, bodyBytes);
  if (tokenizerReady()) return length(p) <= SLICE ? promptFigure(p, bodyBytes) : countedSliced([...p.texts, p.tools], p.framing + p.fixed, Infinity);
  if (counted || tokenizerLoadedSomewhere()) return inThread(p);
  return promptFigure(p, bodyBytes);
}

function length(p: PromptParts): number {
  let n = p.tools.length;
  for (const t of p.texts) n += t.length;
  return n;
}

/** Counted by the tokenizer's thread, text by text, plus what is never counted. */
async function inThread(p: PromptParts): Promise<number> {
  let total = p.framing + p.fixed;
  for (const t of [...p.texts, p.tools]) if (t !== '') total += await countSoon(t);
  return total;
}

/**
 * The prompt's tokens for the ledger when the upstream reported none: its texts and tool
 * definitions exact once the tokenizer is loaded here, else the usual four bytes a token — the
 * row's source says `estimated` then — plus the chat format's tokens. Without readable text
 * (multipart, or a body too large to inspect): body bytes ÷ 3.
 */
export function promptFigure(p: PromptParts | undefined, bodyBytes: number): number {
  if (p === undefined) return Math.ceil(bodyBytes / 3);
  let total = p.framing + p.fixed;
  for (const t of [...p.texts, p.tools]) total += t === '' ? 0 : tokenizerReady() ? countText(t) : Math.max(1, Math.ceil(Buffer.byteLength(t) / 4));
  return total;
}
