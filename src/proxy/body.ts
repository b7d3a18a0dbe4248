import { Transform, type TransformCallback } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { SoakpError } from '../shared/index.js';

/**
 * The request body to forward, as a stream, or null when there is none. A declared
 * Content-Length over the limit is refused before anything is sent; a chunked body is
 * counted as it streams and cut off (413) the moment it passes the limit.
 */
export function requestBody(request: IncomingMessage, maxBytes: number): Readable | null {
  const h = request.headers;
  if (h['transfer-encoding'] !== undefined) {
    const limited = request.pipe(new ByteLimit(maxBytes));
    // A client gone mid-body: whoever reads the limited stream must learn that no end will come.
    request.once('close', () => {
      if (!request.complete) limited.destroy();
    });
    return limited;
  }
  const length = h['content-length'] === undefined ? 0 : Number(h['content-length']);
  if (length > maxBytes) throw tooLarge(maxBytes);
  return length > 0 ? request : null;
}

class ByteLimit extends Transform {
  #seen = 0;

  constructor(private readonly max: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#seen += chunk.length;
    if (this.#seen > this.max) done(tooLarge(this.max));
    else done(null, chunk);
  }
}

function tooLarge(max: number): SoakpError {
  return new SoakpError('payload_too_large', `The request body is larger than the limit of ${max} bytes.`);
}

/** The request body's declared size (a chunked body declares none: 0). */
export function bodyBytes(req: IncomingMessage): number {
  const length = Number(req.headers['content-length'] ?? 0);
  return Number.isSafeInteger(length) && length > 0 ? length : 0;
}
