import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { PassThrough, type Readable } from 'node:stream';
import { SoakpError } from '../shared/index.js';
import { type Inspection, tooSlow } from './inspection.js';
import { type RequestFields, promptParts } from '../policy/index.js';

export type { RequestFields };
import type busboy from 'busboy';

export interface Inspected {
  readonly fields: RequestFields;
  /** The whole body, when it was read whole (JSON within the limit). */
  readonly whole?: Buffer;
  /** The body to forward: the bytes read so far, then the rest, unchanged (the buffer itself when whole). */
  readonly body: Readable | Buffer;
  /** False when the body was larger than the limit and was passed on unread. */
  readonly complete: boolean;
  /** Bytes counted against the inspection cap, to give back once admission has decided. */
  readonly held: number;
}

/**
 * Reads just enough of a request body to learn its model and token bounds, then hands back a
 * stream that replays those bytes and continues with the rest. JSON is read whole (its
 * fields may come in any order) up to the inspection limit; multipart only up to the `model`
 * field. Bytes held count against the cap shared by all requests (503 past it), and a body
 * that arrives slower than the minimum rate is cut (408). The bytes read stay counted until
 * the caller gives them back (`held`), once admission has decided. A JSON body declared
 * larger than the limit is not read at all. A callback, not a promise: it runs on every
 * request whose policy needs the body.
 */
export function readBody(raw: Readable, contentType: string, declared: number, inspection: Inspection, done: (err: unknown, inspected?: Inspected) => void, fieldsOf: (body: Buffer) => RequestFields = jsonFields): void {
  const multipart = /^multipart\/form-data/i.test(contentType);
  if (!multipart && declared > inspection.limit) return done(null, { fields: {}, body: raw, complete: false, held: 0 });
  if (raw.destroyed) return done(gone());
  const chunks: Buffer[] = [];
  let size = 0;
  let fields: RequestFields = {};
  const parser = multipart ? multipartModel(contentType, (model) => (fields = { model })) : undefined;
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const detach = (): void => {
    raw.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    clearTimeout(timer);
    parser?.destroy();
  };
  const stop = (complete: boolean): void => {
    detach();
    raw.pause();
    let inspected: Inspected;
    try {
      // Read whole: forwarded as this one buffer, so no replaying stream is needed.
      const whole = !multipart && complete ? (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)) : undefined;
      inspected = whole ? { fields: fieldsOf(whole), body: whole, complete, whole, held: size } : { fields, body: replay(chunks, raw), complete, held: size };
    } catch (err) {
      inspection.held.give(size);
      return done(err);
    }
    done(null, inspected);
  };
  const fail = (err: unknown): void => {
    detach();
    inspection.held.give(size);
    raw.pause(); // not destroyed: the refusal is still answered on this connection
    done(err);
  };
  const onData = (chunk: Buffer): void => {
    try {
      inspection.held.take(chunk.length);
    } catch (err) {
      return fail(err);
    }
    chunks.push(chunk);
    size += chunk.length;
    parser?.write(chunk);
    if (fields.model !== undefined && multipart) stop(true);
    else if (size > inspection.limit) stop(false);
  };
  // Checked when the body would fall below the minimum rate if nothing more came.
  const pace = (): void => {
    const elapsed = performance.now() - started;
    if (elapsed >= inspection.graceMs && size < (inspection.minRate * elapsed) / 1000) return fail(tooSlow(inspection.minRate));
    timer = setTimeout(pace, Math.max(inspection.graceMs, (size * 1000) / inspection.minRate) - elapsed + 1);
  };
  const onEnd = (): void => stop(true);
  const onError = (err: unknown): void => fail(err);
  // A client gone before the end: nothing more will come.
  const onClose = (): void => fail(gone());
  raw.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  if (inspection.minRate > 0) timer = setTimeout(pace, inspection.graceMs);
}

function gone(): SoakpError {
  return new SoakpError('client_closed', 'The client closed the connection before sending the whole body.');
}

function replay(chunks: Buffer[], rest: Readable): Readable {
  const out = new PassThrough();
  for (const c of chunks) out.write(c);
  if (rest.readableEnded) out.end();
  else {
    rest.pipe(out);
    rest.resume();
  }
  rest.once('error', (err) => out.destroy(err));
  return out;
}

const load = createRequire(import.meta.url);

function multipartModel(contentType: string, found: (model: string) => void): { write(c: Buffer): void; destroy(): void } | undefined {
  // Required on the first multipart body, not at start-up; synchronously, so that the listeners
  // on the request body are still attached in the same tick as before.
  const parse = load('busboy') as typeof busboy;
  let bb: busboy.Busboy;
  try {
    bb = parse({ headers: { 'content-type': contentType }, limits: { fieldSize: 256 } });
  } catch {
    return undefined; // no boundary: the upstream will judge the body
  }
  bb.on('field', (name, value) => {
    if (name === 'model') found(value);
  });
  // Reading stops at the limit: a file part cut short then reports an error nobody needs.
  bb.on('file', (_name, stream) => stream.on('error', () => undefined).resume());
  bb.on('error', () => undefined); // a malformed body is the upstream's to judge, not ours
  return { write: (c) => bb.write(c), destroy: () => bb.destroy() };
}

/** The fields of a whole JSON body; {} when it is not a JSON object (the upstream will judge it). */
export function jsonFields(body: Buffer): RequestFields {
  const v = jsonObject(body);
  if (!v) return {};
  const fields: RequestFields = {};
  if (typeof v.model === 'string') fields.model = v.model;
  const max = [v.max_completion_tokens, v.max_tokens, v.max_output_tokens].find((x) => typeof x === 'number' && Number.isInteger(x) && x > 0);
  if (typeof max === 'number') fields.maxTokens = max;
  if (typeof v.n === 'number' && Number.isInteger(v.n) && v.n > 0) fields.n = v.n;
  fields.prompt = promptParts(v);
  return streamOf(v, fields);
}

const STREAM = Buffer.from('"stream"');

/**
 * Only what asking for a stream's usage needs (the model, whether it streams and asks for its
 * usage), for a token whose policies need nothing else: the prompt is not walked, and a body
 * that never names `"stream"` is not parsed at all.
 */
export function streamFields(body: Buffer): RequestFields {
  const v = body.indexOf(STREAM) === -1 ? undefined : jsonObject(body);
  if (!v) return {};
  return streamOf(v, typeof v.model === 'string' ? { model: v.model } : {});
}

function jsonObject(body: Buffer): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined; // malformed JSON goes to the upstream to judge
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function streamOf(v: Record<string, unknown>, fields: RequestFields): RequestFields {
  if (v.stream === true && v.stream_options === undefined) fields.streamWithoutUsage = true;
  const options = v.stream_options as Record<string, unknown> | null | undefined;
  if (v.stream === true && typeof options === 'object' && options !== null && options.include_usage === true) fields.streamUsage = true;
  return fields;
}

const USAGE_OPTION = Buffer.from('"stream_options":{"include_usage":true},');

/**
 * The same JSON body with `stream_options.include_usage` added, so the upstream reports the
 * stream's usage itself (budgets.requestStreamUsage). Only for a body that parsed as an object
 * with `"stream": true` and no `stream_options`: the member is put first, after the opening
 * brace (only whitespace precedes it), and every byte of the client's stays as it was — no
 * re-serialising.
 */
export function withStreamUsage(body: Buffer): Buffer {
  const open = body.indexOf(0x7b); // '{'
  return Buffer.concat([body.subarray(0, open + 1), USAGE_OPTION, body.subarray(open + 1)]);
}
