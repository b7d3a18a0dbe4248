import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import { type Meter, type MeterOptions, meterFor } from '../../src/metering/index.js';

// Answers as OpenAI's API sends them, for the meter and relay tests.

export const SSE = 'text/event-stream; charset=utf-8';
export const JSON_TYPE = 'application/json';
export const MODEL = 'gpt-4o-mini-2024-07-18';
/** The event a stream ends with at the budget ceiling, spelt out here so a change to it shows. */
export const CUTOFF = 'data: {"error":{"message":"The token budget of this request was used up; the stream was ended.","type":"insufficient_quota","code":"insufficient_quota","param":null}}\n\n';
export const DONE = 'data: [DONE]\n\n';

export const sse = (payload: unknown, eol = '\n'): string => `data: ${JSON.stringify(payload)}${eol}${eol}`;
export const chat = (content: string, eol = '\n'): string =>
  sse({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: MODEL, choices: [{ index: 0, delta: { content }, finish_reason: null }] }, eol);
/** Tokens of texts counted one by one, as deltas are. */
export const tokens = (...texts: string[]): number => texts.reduce((n, t) => n + countTokens(t), 0);

/** Splits text into pieces of `size` bytes, cutting through CRLFs and UTF-8 characters alike. */
export function bytesOf(text: string, size: number): Buffer[] {
  const all = Buffer.from(text);
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; i += size) out.push(all.subarray(i, i + size));
  return out;
}

/** A meter for a chat answer of this type, with a prompt estimate of 11 tokens. */
export function meterOf(contentType: string, more: Partial<MeterOptions> = {}): Meter {
  return meterFor({ endpoint: 'chat', contentType, promptEstimate: 11, ...more });
}

export interface Driven {
  /** What the meter passed on, push by push. */
  readonly pushed: Buffer[];
  /** Whether the meter cut the stream off (a write or the end said so). */
  readonly cut: boolean;
  /** How many chunks were written before the cut-off (all of them when there was none). */
  readonly written: number;
}

/** Feeds an answer's chunks to a meter as the relay does: no more writes after a cut-off, the end otherwise. */
export function drive(meter: Meter, chunks: ReadonlyArray<string | Buffer>): Driven {
  const pushed: Buffer[] = [];
  const push = (bytes: Buffer): void => void pushed.push(bytes);
  let written = 0;
  for (const chunk of chunks) {
    written++;
    if (meter.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, push)) return { pushed, cut: true, written };
  }
  return { pushed, cut: meter.end(push), written };
}

/** What a driven meter passed on, as one string. */
export const text = (d: Driven): string => Buffer.concat(d.pushed).toString();
