import type { MeterOptions } from './ports.js';
import { JsonMeter, type Meter, OpaqueMeter } from './meter.js';
import { SseMeter } from './stream.js';

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
export function meterFor(options: MeterOptions): Meter {
  const mime = mimeOf(options.contentType);
  if (mime === 'text/event-stream') return new SseMeter(options);
  if (mime === 'application/json' || mime.endsWith('+json')) return new JsonMeter(options);
  return new OpaqueMeter();
}
