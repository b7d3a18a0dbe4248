/**
 * The kinds of setting schema.ts is written in, as valibot schemas with soakp's messages: text,
 * numbers, mappings, durations, sizes, URLs. Each reports the first problem of its value only
 * when parsed with `abortPipeEarly` (as schema.ts does).
 */
import * as v from 'valibot';
import { parseCidr, parseDuration, parseOrigin } from '../shared/index.js';

export const text = v.string('must be a string');
export const filled = v.pipe(text, v.nonEmpty('must not be empty'));
export const flag = v.boolean('must be true or false');
export const oneOf = <const T extends readonly string[]>(values: T) => v.picklist(values, `must be one of: ${values.join(', ')}`);
export const named = (re: RegExp, message = `must match ${re}`) => v.pipe(text, v.regex(re, message));

// v.number() takes Infinity; a setting never does.
const finite = v.pipe(v.number('must be a number'), v.finite('must be a number'));
const wholeNumber = v.pipe(finite, v.safeInteger('must be a whole number'));
export const number = (min: number, max: number) => v.pipe(finite, v.minValue(min, `must be at least ${min}`), v.maxValue(max, `must be at most ${max}`));
export const whole = (min: number, max: number) => v.pipe(wholeNumber, v.minValue(min, `must be at least ${min}`), v.maxValue(max, `must be at most ${max}`));

const isMapping = (x: unknown): boolean => typeof x === 'object' && x !== null && !Array.isArray(x);

/** A mapping with exactly these keys: an unknown key is a problem, never silently dropped. */
export function mapping<const E extends v.ObjectEntries>(entries: E) {
  // valibot names only the first unknown key; the message names them all. A required setting
  // left out is described as its own check describes nothing (a price's input: "must be a number").
  const message = (issue: v.StrictObjectIssue): string => {
    const at = issue.path?.[0] as v.ObjectPathItem;
    if (issue.expected !== 'never') return v.safeParse(entries[at.key] as v.GenericSchema, undefined).issues?.[0].message ?? 'is required';
    const unknown = Object.keys(at.input).filter((k) => !Object.hasOwn(entries, k));
    return `Unrecognized key${unknown.length > 1 ? 's' : ''}: ${unknown.map((k) => JSON.stringify(k)).join(', ')}`;
  };
  // strictObject alone would take a list (or a Date) for a mapping.
  const guard = v.custom<v.InferInput<v.StrictObjectSchema<E, undefined>>>(isMapping, 'must be a mapping of settings');
  return v.pipe(guard, v.strictObject(entries, message));
}

/** Keys valibot's record never copies (they could reach a prototype); refused, not dropped. */
const RESERVED = ['__proto__', 'constructor', 'prototype'];

/** A mapping of names (each passing `key`) to values of one kind. */
export const dict = <V extends v.GenericSchema>(key: v.GenericSchema<string>, value: V) =>
  v.pipe(
    v.custom<Record<string, unknown>>(isMapping, 'must be a mapping'),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const input = dataset.value as Record<string, unknown>;
      for (const key of RESERVED.filter((k) => Object.hasOwn(input, k))) {
        const path = [{ type: 'object', origin: 'key', input, key, value: input[key] }] as const;
        addIssue({ message: 'is a reserved name (__proto__, constructor and prototype cannot be used)', path: [...path] });
      }
    }),
    v.record(key, value),
  );

const DURATION = 'must be a duration such as 30s, 10m or 1h';
const ms = (s: string): number | undefined => {
  try {
    return parseDuration(s);
  } catch {
    return undefined; // refused by the number check that follows
  }
};
/** Text such as `30s` or `10m`, given as milliseconds. */
export const durationValue = v.pipe(v.string(DURATION), v.transform(ms), v.number(DURATION));
/** A duration setting; `fallback` when left out. */
export const duration = (fallback: string) => v.optional(durationValue, fallback);

const SIZE = 'must be a size such as 512mb or 64kb, or a whole number of bytes';
const SIZE_TEXT = /^(\d+)\s*(b|kb|mb|gb)$/i;
const UNIT: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const bytes = (s: string): number => {
  const [, n, unit] = SIZE_TEXT.exec(s) as RegExpExecArray;
  return Number(n) * (UNIT[(unit as string).toLowerCase()] as number);
};
/** Text such as `512mb`, or a whole number of bytes, given as bytes; `fallback` when left out. */
export const size = (fallback: string) => {
  const fromText = v.pipe(v.string(SIZE), v.regex(SIZE_TEXT, SIZE), v.transform(bytes));
  return v.optional(v.union([fromText, v.pipe(v.number(SIZE), v.safeInteger(SIZE), v.minValue(1, SIZE))], SIZE), fallback);
};

// As zod's url() did before: the trimmed text must parse as a URL, and it is kept without the
// tabs and line breaks that the URL parser skips.
export const httpUrl = v.pipe(
  text,
  v.trim(),
  v.url('must be a URL'),
  v.transform((u) => u.replace(/[\t\n\r]/g, '')),
  v.regex(/^https?:\/\//i, 'must be an http:// or https:// URL'),
  v.check((u) => !/[?#]/.test(u), 'must not contain a query string or fragment'),
);

const CIDRS = 'must be IP addresses or CIDRs such as 127.0.0.1/32 or 10.0.0.0/8: a list, or one comma-separated text';
/** IP ranges, as a list or as comma-separated text (as the environment gives them); empty entries are skipped. */
export const cidrs = v.pipe(
  v.union([text, v.array(text)], CIDRS),
  v.transform((x) => (Array.isArray(x) ? x : x.split(',')).map((s) => s.trim()).filter((s) => s !== '')),
  v.rawCheck(({ dataset, addIssue }) => {
    const bad = dataset.typed ? dataset.value.find((s) => parseCidr(s) === undefined) : undefined;
    if (bad !== undefined) addIssue({ message: `${CIDRS} (${JSON.stringify(bad.slice(0, 60))} is not)` });
  }),
);

/** Web origins (exact, or `https://*.example.com`), as a list or as comma-separated text; kept in the form browsers send. */
export const origins = v.pipe(
  v.union([text, v.array(text)], 'must be web origins such as https://app.example.com: a list, or one comma-separated text'),
  v.transform((x) => (Array.isArray(x) ? x : x.split(',')).map((s) => s.trim()).filter((s) => s !== '')),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const entry of dataset.value) {
      const parsed = parseOrigin(entry);
      if (typeof parsed === 'string') addIssue({ message: parsed });
    }
  }),
  v.transform((list) => [...new Set(list.map((s) => (parseOrigin(s) as { text: string }).text))]),
);
