import { type Logger, MAX_WRITE, isoTime } from './logger.js';
import { destinationOf } from './pino-destination.js';

/** One access-log line: ids, the method and path (no query), and counts — never a secret. */
export interface AccessFields {
  reqId: string;
  userId?: string | undefined;
  tokenId?: string | undefined;
  upstream?: string | undefined;
  method: string | undefined;
  path: string;
  status: number;
  ms: number;
  bytesIn: number;
  bytesOut: number;
  upstreamRequestId?: string | undefined;
}

// An asynchronous write hands the batch to a thread of libuv's pool, and waking it costs more
// than the bytes on a small VM: batches of about the destination's largest write (MAX_WRITE)
// make one wake-up per ~250 lines.
const BATCH_CHARS = MAX_WRITE;
/** What JSON must escape in a string (and what it may, beyond ASCII, kept as JSON.stringify would write it). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;
const BATCH_MS = 100;

/** The access log of one server: `write` a line; `close` writes what is batched (later lines go out one by one). */
export interface AccessLog {
  write(fields: AccessFields): void;
  close(): void;
}

/**
 * The data plane's access log: the line pino would write for `logger.info(fields, 'request')`,
 * built as one string, and handed to the logger's own destination in batches. Both matter on a
 * busy proxy: pino's generic walk over an object (and redaction, needless here: the fields are
 * ids and counts by construction) costs more than the line; and sonic-boom measures its whole
 * pending buffer on every write, so one write per request grows with the buffer. A batch goes
 * out at 64 K characters or 100 ms, when the server closes, and on exit — after pino's own exit
 * flush, so it flushes again — so a crash loses nothing it would not have lost anyway.
 */
export function accessLog(logger: Logger): AccessLog {
  const { stream, bindings } = destinationOf(logger);
  // Ids, methods and paths rarely need escaping: quoted as they are when a test says so.
  const str = (text: string | undefined): string => (text !== undefined && !NEEDS_ESCAPE.test(text) ? `"${text}"` : JSON.stringify(text ?? null));
  let batch = '';
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const flush = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (batch === '') return;
    const text = batch;
    batch = '';
    stream.write(text);
  };
  const atExit = (): void => {
    flush();
    stream.flushSync?.();
  };
  // Each log its own exit hook (removed on close): two servers in one process share nothing.
  process.on('exit', atExit);
  return {
    write(f) {
      if (!logger.isLevelEnabled('info')) return;
      let line = `{"level":30${isoTime()}${bindings},"reqId":${str(f.reqId)}`;
      if (f.userId !== undefined) line += `,"userId":${str(f.userId)},"tokenId":${str(f.tokenId)},"upstream":${str(f.upstream)}`;
      line += `,"method":${str(f.method ?? '')},"path":${str(f.path)},"status":${f.status},"ms":${f.ms},"bytesIn":${f.bytesIn},"bytesOut":${f.bytesOut}`;
      if (f.upstreamRequestId !== undefined) line += `,"upstreamRequestId":${str(f.upstreamRequestId)}`;
      batch += `${line},"msg":"request"}\n`;
      if (closed || batch.length >= BATCH_CHARS) flush();
      else timer ??= setTimeout(flush, BATCH_MS).unref();
    },
    close() {
      closed = true;
      flush();
      process.off('exit', atExit);
    },
  };
}
