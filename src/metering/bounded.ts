/** How much of one JSON answer or one SSE event is kept for reading its usage. */
export const COLLECT_LIMIT = 4 * 1024 * 1024;
// Usage sits at the end of OpenAI's objects; this much of the end is kept past the limit.
const TAIL = 64 * 1024;
const MODEL = /"model"\s*:\s*"([^"\\]{1,200})"/;
const USAGE = /"usage"\s*:\s*\{/g;
/** The tail of a document that fits whole (shared, never written to: most never need one). */
const NONE: Buffer[] = [];

/**
 * The bytes of one JSON document, kept up to a limit so a huge answer cannot exhaust memory.
 * Past the limit only the start and the last 64 KB are kept, which still hold the `model`
 * and the `usage` of a large embeddings batch or a `response.completed` with images.
 */
export class BoundedBytes {
  readonly #head: Buffer[] = [];
  #headLength = 0;
  #tail: Buffer[] = NONE;
  #tailLength = 0;
  #truncated = false;

  constructor(private readonly limit = COLLECT_LIMIT) {}

  push(bytes: Buffer): void {
    if (!this.#truncated) {
      const room = this.limit - this.#headLength;
      if (bytes.length <= room) {
        this.#head.push(bytes);
        this.#headLength += bytes.length;
        return;
      }
      this.#truncated = true;
      this.#head.push(bytes.subarray(0, room));
      this.#headLength = this.limit;
      bytes = bytes.subarray(room);
    }
    // A copy, so a large chunk's buffer is not kept alive for its last bytes.
    if (this.#tail === NONE) this.#tail = [];
    this.#tail.push(Buffer.from(bytes.length > TAIL ? bytes.subarray(bytes.length - TAIL) : bytes));
    this.#tailLength += bytes.length;
    while (this.#tail.length > 1 && this.#tailLength - this.#tail[0]!.length >= TAIL) this.#tailLength -= this.#tail.shift()!.length;
  }

  /** Bytes seen (kept or not): an upper bound on the tokens of any text inside. */
  get size(): number {
    return this.#headLength + this.#tailLength;
  }

  #valueBytes: number | undefined;

  /**
   * A tighter bound than `size`, without parsing: the bytes of the JSON string values of the
   * keys that deliver text (those `deltaText` reads: content, reasoning, refusal, text, delta,
   * a function's name and arguments — at any depth, and any key written with an escape). Any
   * text an event delivers is one of those values, and a string's encoded form is never shorter
   * than its UTF-8 bytes. Computed once.
   */
  valueBytes(): number {
    if (this.#valueBytes === undefined) {
      this.#valueBytes = this.#truncated ? this.size : textValueBytes(this.#whole());
    }
    return this.#valueBytes;
  }

  /**
   * Whether the kept bytes hold `"<name>": {` — a field whose value is an object — as a cheap
   * test before parsing. (OpenAI sends `"usage": null` in every chunk of a stream that asked
   * for usage; only the last one's is an object.)
   */
  hasObjectField(name: string): boolean {
    // Most events arrive in one piece; a split one is joined so a match across pieces is found.
    const head = this.#whole();
    return objectFieldIn(head, name) || (this.#tail.length > 0 && objectFieldIn(Buffer.concat(this.#tail), name));
  }

  /** The kept head as one buffer (no copy when it came in one piece). */
  #whole(): Buffer {
    return this.#head.length === 1 ? (this.#head[0] as Buffer) : Buffer.concat(this.#head);
  }

  /** The parsed document; when it was too large, an object with the `model` and `usage` found in it. */
  value(): unknown {
    const head = this.#whole();
    if (!this.#truncated) return parseJson(head.toString('utf8'));
    const start = head.subarray(0, TAIL).toString('utf8');
    const end = Buffer.concat(this.#tail).toString('utf8');
    return { model: MODEL.exec(start)?.[1] ?? MODEL.exec(end)?.[1], usage: lastUsage(end) };
  }
}

const JSON_SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** The keys whose string values `deltaText` may read, by length. */
const TEXT_KEYS = new Map<number, Buffer[]>();
for (const key of ['content', 'reasoning_content', 'reasoning', 'refusal', 'text', 'delta', 'name', 'arguments']) {
  const k = Buffer.from(key);
  TEXT_KEYS.set(k.length, [...(TEXT_KEYS.get(k.length) ?? []), k]);
}

function isTextKey(bytes: Buffer, start: number, end: number): boolean {
  const keys = TEXT_KEYS.get(end - start);
  if (!keys) return false;
  next: for (const key of keys) {
    for (let i = 0; i < key.length; i++) if (bytes[start + i] !== key[i]) continue next;
    return true;
  }
  return false;
}

/** See valueBytes: one pass over the bytes, no call per string. */
function textValueBytes(bytes: Buffer): number {
  const n = bytes.length;
  let total = 0;
  let keyStart = -1;
  let keyEnd = -1;
  let keyEscaped = false;
  for (let i = 0; i < n; ) {
    if (bytes[i] !== 0x22) {
      i++;
      continue;
    }
    let close = i + 1;
    let escapes = false;
    for (; close < n && bytes[close] !== 0x22; close++) {
      if (bytes[close] === 0x5c) {
        escapes = true;
        close++; // an escape takes the next byte with it
      }
    }
    if (close >= n) return total + n - i; // unterminated: count the rest
    let after = close + 1;
    while (JSON_SPACE.has(bytes[after] ?? 0)) after++;
    if (bytes[after] === 0x3a) [keyStart, keyEnd, keyEscaped] = [i + 1, close, escapes];
    else if (keyEscaped || keyStart < 0 || isTextKey(bytes, keyStart, keyEnd)) total += close - i - 1;
    i = after;
  }
  return total;
}

/** Quoted names as bytes, made once: a string needle is encoded anew by every indexOf. */
const needles = new Map<string, Buffer>();

function objectFieldIn(bytes: Buffer, name: string): boolean {
  let needle = needles.get(name);
  if (!needle) needles.set(name, (needle = Buffer.from(`"${name}"`)));
  // From the end: OpenAI puts `usage` last in its objects.
  for (let at = bytes.lastIndexOf(needle); at !== -1; at = at === 0 ? -1 : bytes.lastIndexOf(needle, at - 1)) {
    let i = at + needle.length;
    while (JSON_SPACE.has(bytes[i] ?? 0)) i++;
    if (bytes[i++] !== 0x3a) continue; // ':'
    while (JSON_SPACE.has(bytes[i] ?? 0)) i++;
    if (bytes[i] === 0x7b) return true; // '{'
  }
  return false;
}

/** The last `"usage": {…}` object in text (the top-level one: it comes after any nested object). */
function lastUsage(text: string): unknown {
  let start = -1;
  for (const m of text.matchAll(USAGE)) start = m.index + m[0].length - 1;
  if (start < 0) return undefined;
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return parseJson(text.slice(start, i + 1));
  }
  return undefined;
}

function parseJson(text: string): unknown {
  // Cheap rejection of `[DONE]`, keep-alives and non-JSON error pages.
  if (!text.trimStart().startsWith('{')) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
