import type { BoundedBytes } from './bounded.js';
import { tokenizerSettled } from './tokenizer.js';
import { countSoon } from './tokenizer-thread.js';
import { countText, deltaText } from './count.js';

/** Events kept unparsed while their text may never need counting (at most this many bytes). */
export const UNPARSED_LIMIT = 1024 * 1024;

/**
 * The text a stream has delivered, for when it has to be counted: exact tokens of what was
 * counted already, and the events not parsed yet. Most streams end with the upstream's own
 * usage, and then their text never needs counting; until then an event costs a byte scan at
 * most, not a JSON parse and a tokenizer run.
 */
export class KeptText {
  /** Exact tokens of the text already counted. */
  completion = 0;
  #unparsed: Array<BoundedBytes | string> = [];
  /**
   * The bound on the kept events' tokens (a token is at least one byte): the first #tightCount
   * are bounded by the bytes of their text values (valueBytes), the rest by their size —
   * tightened oldest first, only as far as a check needs (roomFor), so a stream far from its
   * ceiling scans few or none of its events.
   */
  bound = 0;
  #tightCount = 0;
  /** The bytes the kept events hold (their size), which UNPARSED_LIMIT bounds. */
  keptBytes = 0;
  /** keptBytes past which they are counted (or, while the tokenizer loads, reduced to their text). */
  #shrinkAt = UNPARSED_LIMIT;

  get pending(): boolean {
    return this.#unparsed.length > 0;
  }

  /** Keeps an event (or its text, when it was parsed already); counts all once they hold too much. */
  add(kept: BoundedBytes | string): void {
    this.#unparsed.push(kept);
    const size = typeof kept === 'string' ? Buffer.byteLength(kept) : kept.size;
    this.bound += size;
    this.keptBytes += size;
    if (this.keptBytes > this.#shrinkAt) this.#shrink();
  }

  /**
   * Bounded memory on long streams: the kept events are counted. The stream does not wait for
   * the tokenizer: until it is loaded they are reduced to their text, counted when the stream
   * is over, and the next reduction waits until that text has doubled.
   */
  #shrink(): void {
    if (tokenizerSettled()) return this.count();
    this.parse();
    this.#shrinkAt = Math.max(UNPARSED_LIMIT, 2 * this.keptBytes);
  }

  /** Whether `extra` bytes more fit under the ceiling, tightening kept events' bounds (a scan each) until they do or none is left. */
  roomFor(extra: number, ceiling: number): boolean {
    while (this.completion + this.bound + extra > ceiling) {
      const d = this.#unparsed[this.#tightCount];
      if (d === undefined) return false;
      this.#tightCount++;
      if (typeof d !== 'string') this.bound -= d.size - d.valueBytes();
    }
    return true;
  }

  /** Replaces the kept events by the text they deliver (joined, as it is counted): a tighter bound, still no tokenizer. */
  parse(): void {
    const text = this.#text();
    this.#unparsed = text === '' ? [] : [text];
    this.bound = this.keptBytes = Buffer.byteLength(text);
    this.#tightCount = this.#unparsed.length;
  }

  /** Counts the kept text (together, as delivered) into `completion`. */
  count(): void {
    if (this.#unparsed.length > 0) this.completion += countText(this.#take());
  }

  /** Counts the kept text into `completion` now the stream is over: at once, or off the event loop while the tokenizer is not loaded here. */
  countAfter(): Promise<void> | undefined {
    if (this.#unparsed.length === 0) return undefined;
    const tokens = countSoon(this.#take());
    if (typeof tokens === 'number') return void (this.completion += tokens);
    return tokens.then((n) => void (this.completion += n));
  }

  /** The kept text, no longer kept. */
  #take(): string {
    const text = this.#text();
    this.#unparsed = [];
    this.bound = this.keptBytes = this.#tightCount = 0;
    this.#shrinkAt = UNPARSED_LIMIT;
    return text;
  }

  #text(): string {
    return this.#unparsed.map((d) => (typeof d === 'string' ? d : deltaText(d.value()))).join('');
  }
}
