import { BoundedBytes } from './bounded.js';

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const DATA = Buffer.from('data:');
const NEWLINE = Buffer.from('\n');

/** One complete SSE event found in a chunk. */
export interface SseEvent {
  /** Offset in the chunk just past the event's blank line (0: it ended with an earlier chunk). */
  readonly end: number;
  /** Its `data:` lines joined by `\n`, as the SSE spec joins them; undefined without any. */
  readonly data: BoundedBytes | undefined;
}

/**
 * Finds SSE events in a byte stream cut anywhere, even inside a `\r\n` or a UTF-8 character:
 * lines end with `\n`, `\r\n` or `\r`, an empty line ends the event. Works on bytes, so the
 * caller can pass each event's exact bytes on; only `data:` contents are kept, bounded.
 */
export class SseSplitter {
  /** The last byte was a CR: whether a LF follows (same line end) is known with the next byte. */
  #afterCR = false;
  #lineLength = 0;
  /** Whether the current line is a `data:` line; undefined while its first bytes still match. */
  #isData: boolean | undefined;
  /** The one optional space after `data:` is not part of the value. */
  #skipSpace = false;
  #data: BoundedBytes | undefined;

  feed(chunk: Buffer): SseEvent[] {
    // Nearly every stream ends its lines with LF alone: then lines are found with indexOf (native)
    // instead of a look at every byte; CRs anywhere take the general path below.
    if (this.#afterCR || chunk.indexOf(CR) !== -1) return this.#feedBytes(chunk);
    // The usual chunk, one whole single-line `data:` event, is taken without walking its lines.
    const n = chunk.length;
    if (this.#lineLength === 0 && this.#data === undefined && chunk[n - 1] === LF && chunk[n - 2] === LF && isDataLine(chunk) && chunk.indexOf(LF, 5) === n - 2) {
      const data = new BoundedBytes();
      const from = chunk[5] === SPACE ? 6 : 5;
      if (from < n - 2) data.push(chunk.subarray(from, n - 2));
      return [{ end: n, data }];
    }
    const events: SseEvent[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(LF, start);
      this.#lineBytes(chunk, start, nl === -1 ? chunk.length : nl);
      if (nl === -1) break;
      this.#endLine(nl + 1, events);
      start = nl + 1;
    }
    return events;
  }

  /** Bytes `from`..`to` of `chunk`, all within one line (no line end among them). */
  #lineBytes(chunk: Buffer, from: number, to: number): void {
    let run = this.#isData === true ? from : -1;
    for (let i = from; i < to && this.#isData === undefined; i++) {
      if (chunk[i] !== DATA[this.#lineLength + i - from]) this.#isData = false;
      else if (this.#lineLength + i - from === DATA.length - 1) {
        this.#isData = true;
        this.#skipSpace = true;
        if (this.#data) this.#data.push(NEWLINE);
        else this.#data = new BoundedBytes();
        run = i + 1;
      }
    }
    this.#lineLength += to - from;
    if (run < 0 || run >= to) return;
    if (this.#skipSpace) {
      this.#skipSpace = false;
      if (chunk[run] === SPACE) run++;
    }
    if (run < to) this.#data!.push(chunk.subarray(run, to));
  }

  #feedBytes(chunk: Buffer): SseEvent[] {
    const events: SseEvent[] = [];
    let run = this.#isData === true && !this.#afterCR ? 0 : -1; // start of data-line bytes in this chunk
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (this.#afterCR) {
        this.#afterCR = false;
        if (byte === LF) {
          this.#endLine(i + 1, events);
          continue;
        }
        this.#endLine(i, events);
      }
      if (byte === CR || byte === LF) {
        if (run >= 0) this.#data!.push(chunk.subarray(run, i));
        run = -1;
        if (byte === CR) this.#afterCR = true;
        else this.#endLine(i + 1, events);
        continue;
      }
      if (this.#isData === undefined) {
        if (byte !== DATA[this.#lineLength]) this.#isData = false;
        else if (this.#lineLength === DATA.length - 1) {
          this.#isData = true;
          this.#skipSpace = true;
          if (this.#data) this.#data.push(NEWLINE);
          else this.#data = new BoundedBytes();
          run = i + 1;
        }
      } else if (this.#skipSpace) {
        this.#skipSpace = false;
        if (byte === SPACE) run = i + 1;
      }
      this.#lineLength++;
    }
    if (run >= 0 && run < chunk.length) this.#data!.push(chunk.subarray(run));
    return events;
  }

  /** At the end of the input: the last event if it lacked its blank line (read anyway, leniently). */
  finish(): SseEvent | undefined {
    const events: SseEvent[] = [];
    if (this.#afterCR) {
      this.#afterCR = false;
      this.#endLine(0, events);
    }
    if (events[0]) return events[0];
    const data = this.#data;
    this.#data = undefined;
    return data ? { end: 0, data } : undefined;
  }

  #endLine(end: number, events: SseEvent[]): void {
    if (this.#lineLength === 0) {
      events.push({ end, data: this.#data });
      this.#data = undefined;
    }
    this.#lineLength = 0;
    this.#isData = undefined;
    this.#skipSpace = false;
  }
}

function isDataLine(chunk: Buffer): boolean {
  return chunk[0] === 0x64 && chunk[1] === 0x61 && chunk[2] === 0x74 && chunk[3] === 0x61 && chunk[4] === 0x3a; // "data:"
}
