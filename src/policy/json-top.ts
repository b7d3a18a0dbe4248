/**
 * The top-level `model` and `usage` of a JSON answer without parsing all of it. An answer is
 * read once per request for these two fields; a chat completion puts `model` near its start
 * and `usage` near its end, so finding them costs a scan of a few dozen bytes, where a parse
 * builds every choice and message first. Anything this cannot prove — nesting, escapes, an
 * unusual shape — returns undefined, and the caller parses the whole document as before.
 */
export interface TopFields {
  readonly model: string | undefined;
  readonly usage: unknown;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

export function topFields(b: Buffer): TopFields | undefined {
  let start = 0;
  let end = b.length - 1;
  while (start <= end && isSpace(b[start] as number)) start++;
  while (end >= start && isSpace(b[end] as number)) end--;
  if (b[start] !== LBRACE || b[end] !== RBRACE) return undefined;
  let model: string | undefined;
  const m = b.indexOf('"model"', start);
  if (m !== -1) {
    const open = valueAt(b, m + 7);
    if (open === -1 || b[open] !== QUOTE || depthAfter(b, start + 1, m, 1) !== 1) return undefined;
    const close = b.indexOf(QUOTE, open + 1);
    if (close === -1 || close - open - 1 > 200 || b.subarray(open + 1, close).includes(BACKSLASH)) return undefined;
    if (close > open + 1) model = b.toString('utf8', open + 1, close);
  }
  const u = b.lastIndexOf('"usage"', end);
  if (u === -1) return { model, usage: undefined };
  const open = valueAt(b, u + 7);
  if (open === -1 || b[u - 1] === BACKSLASH) return undefined;
  // `"usage": null` (every chunk of a stream that asked for usage, but the last): no usage, if top-level.
  const none = b[open] === 0x6e && b.toString('latin1', open, open + 4) === 'null';
  if (!none && b[open] !== LBRACE) return undefined;
  const close = none ? open + 3 : objectEnd(b, open, end);
  // Top level: the rest closes exactly the document's own object, at its last byte.
  if (close === -1 || depthAfter(b, close + 1, end, 1) !== 1) return undefined;
  if (none) return { model, usage: null };
  try {
    return { model, usage: JSON.parse(b.toString('utf8', open, close + 1)) as unknown };
  } catch {
    return undefined;
  }
}

/** The index of a key's value (after `:` and spaces), or -1 when `at` is not followed by `:`. */
function valueAt(b: Buffer, at: number): number {
  while (isSpace(b[at] as number)) at++;
  if (b[at] !== COLON) return -1;
  at++;
  while (isSpace(b[at] as number)) at++;
  return at < b.length ? at : -1;
}

/** The nesting depth after bytes `from`..`to` (exclusive), strings skipped; -1 if it ever drops below 1 or a string runs past `to`. */
function depthAfter(b: Buffer, from: number, to: number, depth: number): number {
  for (let i = from; i < to; i++) {
    const c = b[i];
    if (c === QUOTE) {
      i = stringEnd(b, i);
      if (i === -1 || i >= to) return -1;
    } else if (c === LBRACE || c === LBRACKET) depth++;
    else if ((c === RBRACE || c === RBRACKET) && --depth < 1) return -1;
  }
  return depth;
}

/** The index of the `}` that closes the object opening at `open`, or -1. */
function objectEnd(b: Buffer, open: number, limit: number): number {
  let depth = 0;
  for (let i = open; i <= limit; i++) {
    const c = b[i];
    if (c === QUOTE) {
      i = stringEnd(b, i);
      if (i === -1) return -1;
    } else if (c === LBRACE || c === LBRACKET) depth++;
    else if ((c === RBRACE || c === RBRACKET) && --depth === 0) return c === RBRACE ? i : -1;
  }
  return -1;
}

/** The index of the quote that closes the string opening at `open` (escaped quotes skipped), or -1. */
function stringEnd(b: Buffer, open: number): number {
  let i = b.indexOf(QUOTE, open + 1);
  while (i !== -1 && escaped(b, i)) i = b.indexOf(QUOTE, i + 1);
  return i;
}

function escaped(b: Buffer, at: number): boolean {
  let n = 0;
  while (at - n - 1 >= 0 && b[at - n - 1] === BACKSLASH) n++;
  return n % 2 === 1;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
