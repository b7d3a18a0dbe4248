import { type Readable, Transform } from 'node:stream';
import type { TapOptions, Tapped, UsageObservation } from './ports.js';
import { JsonMeter, type Meter, OpaqueMeter } from './meter.js';
import { SseMeter } from './stream.js';

/**
 * Passes an upstream answer on unchanged, chunk by chunk as it comes, and learns its usage on
 * the way: what the upstream reports, else the delivered text counted with a tokenizer. The
 * usage settles (never rejects) when the answer ends, fails, is abandoned by the client or is
 * cut off at the budget ceiling, always with what was delivered by then.
 */
export function tapResponse(body: Readable, options: TapOptions): Tapped {
  const meter = meterFor(options);
  let settled = false;
  let resolveUsage!: (usage: UsageObservation | Promise<UsageObservation>) => void;
  const usage = new Promise<UsageObservation>((resolve) => (resolveUsage = resolve));
  const settle = (): void => {
    if (settled) return;
    settled = true;
    resolveUsage(meter.observation());
  };
  let cut = false;

  const push = (bytes: Buffer): void => void tap.push(bytes);
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      // After a cut-off, whatever the upstream still sends before it is cancelled is not delivered.
      if (!cut && meter.write(chunk, push)) cutOff();
      done();
    },
    flush(done) {
      if (!cut && meter.end(push)) cutOff();
      done();
      settle();
    },
  });

  function cutOff(): void {
    cut = true;
    body.unpipe(tap);
    settle();
    options.onCutoff?.();
    // Cancel the upstream call even when the caller gave no onCutoff; end the client's side cleanly.
    body.destroy();
    if (!tap.writableEnded) tap.end();
  }

  // An upstream failure mid-answer breaks the client's answer too: there is no honest way to finish it.
  body.on('error', (err) => {
    if (!cut) tap.destroy(err);
  });
  // The client left (or the answer is over): stop reading the upstream, settle with what was delivered.
  tap.on('close', () => {
    settle();
    if (!body.destroyed) body.destroy();
  });
  body.pipe(tap);
  return { body: tap, usage };
}

/** The media type of a Content-Type value: lower case, without parameters. */
function mimeOf(contentType: string): string {
  // Asked of every answer, and an upstream sends the same few values: remembered (a few dozen at most).
  let mime = mimes.get(contentType);
  if (mime === undefined) {
    mime = (contentType.split(';')[0] ?? '').trim().toLowerCase();
    if (mimes.size < 64) mimes.set(contentType, mime);
  }
  return mime;
}

const mimes = new Map<string, string>();

/** Whether an answer is a Server-Sent Events stream (metered event by event). */
export function isEventStream(contentType: string): boolean {
  return mimeOf(contentType) === 'text/event-stream';
}

/** The meter for an answer's content type: SSE events, a JSON body, or opaque bytes. */
export function meterFor(options: TapOptions): Meter {
  const mime = mimeOf(options.contentType);
  if (mime === 'text/event-stream') return new SseMeter(options);
  if (mime === 'application/json' || mime.endsWith('+json')) return new JsonMeter(options);
  return new OpaqueMeter();
}
