import type { SseEvent } from './sse.js';
import { usageOf } from './count.js';

/**
 * What soakp removes from a stream when it asked the upstream for the usage on the client's
 * behalf (`stream_options.include_usage`, see budgets.requestStreamUsage), so that the client
 * gets what it would have got without: OpenAI then sends `"usage":null` in every chunk and one
 * more chunk, before `[DONE]`, with no choices and the usage. Both go; every other byte stays.
 */

const KEY = Buffer.from('"usage"');
/** How OpenAI ends every other chunk of such a stream; the comma and the member go, the brace stays. */
const LAST_NULL_USAGE = Buffer.from(',"usage":null}');
export const NULL_USAGE_LENGTH = LAST_NULL_USAGE.length - 1;
const LF = 0x0a;
const CR = 0x0d;
const NULL = Buffer.from('null');
const SPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** The event OpenAI adds for include_usage: a usage object and an empty `choices` list. */
export function isUsageOnly(event: SseEvent): boolean {
  const data = event.data;
  // A byte search first: the other events hold `"usage":null`, or no usage at all.
  if (!data || !data.hasObjectField('usage')) return false;
  const value = data.value() as { choices?: unknown } | undefined;
  return Array.isArray(value?.choices) && value.choices.length === 0 && usageOf(value) !== undefined;
}

/**
 * Where `,"usage":null` starts in an event that ends with it as OpenAI writes it (the last
 * member of the chunk's object), in `bytes` from `from` to `end` (just past the blank line);
 * -1 when it does not (or not within those bytes). A look at a few bytes, no search.
 */
export function lastNullUsageAt(bytes: Buffer, from: number, end: number): number {
  let i = end;
  while (i > from && (bytes[i - 1] === LF || bytes[i - 1] === CR)) i--;
  const start = i - LAST_NULL_USAGE.length;
  if (start <= from) return -1;
  for (let k = 0; k < LAST_NULL_USAGE.length; k++) if (bytes[start + k] !== LAST_NULL_USAGE[k]) return -1;
  return start;
}

/**
 * `bytes` (whole SSE events) without their `"usage": null` members, with the comma that joined
 * each to its object. Unescaped `"usage"` followed by `:` is always a key in valid JSON (a quote
 * inside a string is escaped), and no chunk of chat or completions nests one. The same buffer
 * when there is none.
 */
export function withoutNullUsage(bytes: Buffer): Buffer {
  let at = bytes.indexOf(KEY);
  if (at === -1) return bytes;
  const parts: Buffer[] = [];
  let from = 0;
  for (; at !== -1; at = bytes.indexOf(KEY, at + KEY.length)) {
    let end = skip(bytes, at + KEY.length, 1);
    if (bytes[end] !== 0x3a) continue; // ':'
    end = skip(bytes, end + 1, 1);
    if (!bytes.subarray(end, end + 4).equals(NULL)) continue;
    end += 4;
    let start = at;
    const before = skip(bytes, at - 1, -1);
    if (bytes[before] === 0x2c) start = before; // ',' before: a later member
    else if (bytes[before] === 0x7b) {
      // '{' before: the first member, joined to the next by the comma after it
      const after = skip(bytes, end, 1);
      if (bytes[after] === 0x2c) end = after + 1;
      else if (bytes[after] !== 0x7d) continue;
    } else continue;
    if (start < from) continue;
    parts.push(bytes.subarray(from, start));
    from = end;
  }
  if (parts.length === 0) return bytes;
  parts.push(bytes.subarray(from));
  return Buffer.concat(parts);
}

/** The first index from `i` in direction `step` that is not JSON whitespace. */
function skip(bytes: Buffer, i: number, step: 1 | -1): number {
  while (SPACE.has(bytes[i] ?? 0)) i += step;
  return i;
}

/** `bytes` less the `drops` (offsets in the chunk that starts at `shift`; a drop from 0 takes the bytes before it too): one copy. */
export function without(bytes: Buffer, shift: number, drops: readonly number[]): Buffer {
  let length = bytes.length;
  for (let i = 0; i < drops.length; i += 2) length -= (drops[i + 1] as number) - (drops[i] === 0 ? -shift : (drops[i] as number));
  const out = Buffer.allocUnsafe(length);
  let from = 0;
  let to = 0;
  for (let i = 0; i < drops.length; i += 2) {
    const start = drops[i] === 0 ? 0 : (drops[i] as number) + shift;
    to += bytes.copy(out, to, from, start);
    from = (drops[i + 1] as number) + shift;
  }
  bytes.copy(out, to, from);
  return out;
}
