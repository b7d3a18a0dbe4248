/**
 * The top-level `usage` object and `model` of a JSON object, read without parsing all of it:
 * metering needs only those two, and `JSON.parse` of a whole answer (or of a stream's usage
 * event) was the largest single cost soakp added to a request. Only the usage object and the
 * model's string are parsed, by JSON.parse itself. It answers only when it can be sure it
 * found what a full parse would: `usage` the last key of its name, in the object that closes
 * at the document's end; `model` a key of the top level before it, and the only one. Anything
 * else (a usage nested in `response`, a model after the usage, a second `model`, odd bytes)
 * is undefined, and the caller parses the whole document as before.
 */
export interface QuickFacts {
  readonly model: string;
  readonly usage: unknown;
}

const USAGE = Buffer.from('"usage"');
const MODEL = Buffer.from('"model"');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export function quickFacts(b: Buffer): QuickFacts | undefined {
  const at = b.lastIndexOf(USAGE);
  if (at < 1) return undefined;
  // A real key: its quote opens a string (nothing escapes it) right after `{` or `,`.
  const before = b[skipSpaceBack(b, at - 1)];
  if (before !== 0x7b && before !== 0x2c) return undefined;
  const colon = skipSpace(b, at + USAGE.length);
  if (b[colon] !== 0x3a) return undefined;
  const start = skipSpace(b, colon + 1);
  if (b[start] !== 0x7b) return undefined; // an object (`"usage": null` says nothing)
  const end = closing(b, start, 0);
  if (end < 0 || b[skipSpace(b, 0)] !== 0x7b) return undefined;
  // The object holding `usage` is the document itself: it closes at the last byte that is not space.
  const outer = closing(b, end, 1);
  if (outer < 0 || skipSpace(b, outer) !== b.length) return undefined;
  const model = topLevelModel(b, at);
  if (model === undefined) return undefined;
  try {
    return { model, usage: JSON.parse(b.toString('utf8', start, end)) as unknown };
  } catch {
    return undefined;
  }
}

/**
 * Scans from `from` with `depth` containers open: the index just past the byte that closes
 * the last of them (strings skipped), or -1 when the bytes end first.
 */
function closing(b: Buffer, from: number, depth: number): number {
  for (let i = from; i < b.length; i++) {
    const c = b[i] as number;
    if (c === QUOTE) {
      const end = stringEnd(b, i);
      if (end < 0) return -1;
      i = end - 1;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if ((c === 0x7d || c === 0x5d) && --depth === 0) return i + 1;
  }
  return -1;
}

/** The string value of the first top-level `"model"` key before `limit`, if it is the document's only `"model"`. */
function topLevelModel(b: Buffer, limit: number): string | undefined {
  let depth = 0;
  for (let i = 0; i < limit; i++) {
    const c = b[i] as number;
    if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === QUOTE) {
      const end = stringEnd(b, i);
      if (end < 0) return undefined;
      if (depth === 1 && end - i === MODEL.length && b.compare(MODEL, 0, MODEL.length, i, end) === 0) {
        const colon = skipSpace(b, end);
        const v = skipSpace(b, colon + 1);
        if (b[colon] !== 0x3a || b[v] !== QUOTE) return undefined;
        const vEnd = stringEnd(b, v);
        if (vEnd < 0 || b.indexOf(MODEL, vEnd) !== -1) return undefined;
        try {
          return JSON.parse(b.toString('utf8', v, vEnd)) as string;
        } catch {
          return undefined;
        }
      }
      i = end - 1;
    }
  }
  return undefined;
}

/** The index just past the string whose opening quote is at `at`; -1 when it does not end. */
function stringEnd(b: Buffer, at: number): number {
  for (let i = at + 1; i < b.length; i++) {
    const c = b[i];
    if (c === BACKSLASH) i++;
    else if (c === QUOTE) return i + 1;
  }
  return -1;
}

function skipSpace(b: Buffer, i: number): number {
  while (i < b.length && isSpace(b[i] as number)) i++;
  return i;
}

function skipSpaceBack(b: Buffer, i: number): number {
  while (i > 0 && isSpace(b[i] as number)) i--;
  return i;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
