import type { TapOptions, UsageObservation } from './ports.js';
import { type Meter, WAIT, type Written } from './usage-meter.js';
import { tokenizerSettled } from './tokenizer.js';
import { type BoundedBytes, COLLECT_LIMIT } from './usage-bounded.js';
import { type Counts, countText, deltaText, modelOf, usageOf } from './usage-count.js';
import { type SseEvent, SseSplitter } from './usage-sse.js';

/** The last event a client gets when the budget runs out mid-stream: what OpenAI sends for no quota. */
export const CUTOFF_EVENT = Buffer.from(
  `data: ${JSON.stringify({
    error: { message: 'The token budget of this request was used up; the stream was ended.', type: 'insufficient_quota', code: 'insufficient_quota', param: null },
  })}\n\n`,
);

const EMPTY = Buffer.alloc(0);

/** A chunk's events being decided (see #run). */
interface Stalled {
  readonly chunk: Buffer;
  readonly events: readonly SseEvent[];
  readonly next: number;
  readonly from: number;
  readonly atEnd: boolean;
}

/** Events kept unparsed while their text may never need counting (at most this many bytes). */
const UNPARSED_LIMIT = 1024 * 1024;
/** How many of a stream's last events, and of its last events with a usage object, are kept to be read when it ends. */
const RECENT = 4;

/**
 * An SSE answer. Without a ceiling each chunk goes on at once. With one, bytes go on at event
 * boundaries, so an event that would pass the ceiling can be withheld whole; the client loses
 * nothing by it, as SSE clients act on an event only once its blank line has arrived.
 */
export class SseMeter implements Meter {
  readonly #split = new SseSplitter();
  /** Exact tokens of the text of events already counted. */
  #completion = 0;
  /**
   * Events not parsed yet. Most streams end with the upstream's own usage, and then their text
   * never needs counting; until then each event costs a byte scan, not a JSON parse and a
   * tokenizer run. Their byte size bounds their tokens (a token is at least one byte), which
   * is enough to prove a budget ceiling is not near.
   */
  #unparsed: Array<BoundedBytes | string> = [];
  /**
   * The bound on the kept events' tokens: the first #tightCount are bounded by the bytes of their
   * text values (valueBytes), the rest by their size — tightened oldest first, only as far as a
   * check needs (#roomFor), so a stream far from its ceiling scans few or none of its events.
   */
  #unparsedBytes = 0;
  #tightCount = 0;
  /** The bytes the kept events hold (their size), which UNPARSED_LIMIT bounds. */
  #keptBytes = 0;
  #reported: Counts | undefined;
  /** The number of the event #reported came from (events with data are numbered from 1). */
  #reportedAt = 0;
  #events = 0;
  #model: string | undefined;
  /**
   * The first event (its model), the last few, and the last few that hold a usage object (a
   * byte search per event): they are parsed once the stream is over, not as they pass. The
   * latest valid usage wins, as if every event had been read.
   */
  #first: BoundedBytes | undefined;
  #recent: Array<{ n: number; data: BoundedBytes }> = [];
  #usages: Array<{ n: number; data: BoundedBytes }> = [];
  #resolved = false;
  /** Bytes of the current, unfinished event not yet passed on (ceiling mode). */
  #held: Buffer[] = [];
  #heldLength = 0;
  /** The current event grew past the collect limit and is passed on as it comes, unchecked. */
  #streaming = false;
  /** Where a step stopped for the tokenizer. */
  #stalled: Stalled | undefined;

  constructor(private readonly options: TapOptions) {}

  write(chunk: Buffer, push: (bytes: Buffer) => void): Written {
    if (this.options.completionCeiling === undefined) {
      push(chunk);
      for (const event of this.#split.feed(chunk)) this.#take(event, undefined);
      return false;
    }
    return this.#run({ chunk, events: this.#split.feed(chunk), next: 0, from: 0, atEnd: false }, push);
  }

  end(push: (bytes: Buffer) => void): Written {
    const last = this.#split.finish();
    if (this.options.completionCeiling === undefined) {
      if (last) this.#take(last, undefined);
      return false;
    }
    return this.#run({ chunk: EMPTY, events: last ? [last] : [], next: 0, from: 0, atEnd: true }, push);
  }

  resume(push: (bytes: Buffer) => void): Written {
    const stalled = this.#stalled;
    this.#stalled = undefined;
    return stalled ? this.#run(stalled, push) : false;
  }

  /**
   * Decides the events of a chunk in turn, from `next`; the bytes of the chunk from `from` on are
   * not passed on yet (the held bytes before them belong to the first undecided event). The
   * events it approves go on together, as one write — those before a cut-off, or before a stop
   * for the tokenizer, where it goes on from later (resume).
   */
  #run(step: Stalled, push: (bytes: Buffer) => void): Written {
    const { chunk, events, from, atEnd } = step;
    const ceiling = this.options.completionCeiling as number;
    let approved = from;
    for (let i = step.next; i < events.length; i++) {
      const event = events[i] as SseEvent;
      const verdict = this.#exceeds(event, ceiling);
      if (verdict === WAIT) {
        if (approved > from) this.#release(chunk.subarray(from, approved), push);
        this.#stalled = { chunk, events, next: i, from: approved, atEnd };
        return WAIT;
      }
      if (verdict) return this.#cutOff(chunk.subarray(from, approved), approved > from, push);
      approved = Math.max(approved, event.end);
      this.#streaming = false;
    }
    if (atEnd) {
      this.#release(EMPTY, push);
      return false;
    }
    if (approved > from) this.#release(chunk.subarray(from, approved), push);
    const rest = chunk.subarray(approved);
    if (rest.length === 0) return false;
    if (this.#streaming) push(rest);
    else {
      this.#held.push(rest);
      this.#heldLength += rest.length;
      // An event this large (image data) cannot be held; it goes on as it comes.
      if (this.#heldLength > COLLECT_LIMIT) {
        this.#streaming = true;
        this.#release(EMPTY, push);
      }
    }
    return false;
  }

  observation(): UsageObservation {
    this.#resolve();
    const r = this.#reported;
    if (r) return { promptTokens: r.prompt, completionTokens: r.completion, totalTokens: r.total, source: 'reported', model: this.#model };
    this.#countUnparsed();
    const prompt = this.options.promptEstimate ?? 0;
    return { promptTokens: prompt, completionTokens: this.#completion, totalTokens: prompt + this.#completion, source: 'counted', model: this.#model };
  }

  mayCount(bytes: number): boolean {
    // Events complete in the coming bytes are at most the current event's data so far plus those bytes.
    return this.#keptBytes + this.#split.pendingBytes + bytes > UNPARSED_LIMIT;
  }

  countsAtEnd(): boolean {
    this.#resolve();
    return this.#reported === undefined && this.#unparsed.length > 0;
  }

  /** The stream is over: its usage (the latest valid one), its model from that event, the first, or the last few. */
  #resolve(): void {
    if (this.#resolved) return;
    this.#resolved = true;
    for (let i = this.#usages.length - 1; i >= 0; i--) {
      const { n, data } = this.#usages[i] as { n: number; data: BoundedBytes };
      if (n < this.#reportedAt) break;
      const value = data.value();
      const usage = usageOf(value);
      if (!usage) continue;
      this.#reported = usage;
      this.#model ??= modelOf(value);
      break;
    }
    // Some upstreams open with an event whose model is empty (Azure's prompt filter results).
    if (this.#model === undefined && this.#first) this.#model = modelOf(this.#first.value());
    for (let i = this.#recent.length - 1; i >= 0 && this.#model === undefined; i--) this.#model = modelOf(this.#recent[i]?.data.value());
  }

  /**
   * Whether a finished event would pass the ceiling (it is then withheld, and the stream ends in
   * its place); if not, it is taken as delivered. Four bounds, each paid for only when the
   * cheaper one cannot rule the ceiling out (a token is at least one byte): event bytes (no
   * work), the bytes of their JSON string values (a scan), the bytes of the text they deliver
   * (a JSON parse), then exact tokens (the tokenizer).
   */
  #exceeds(event: SseEvent, ceiling: number): Written {
    const size = event.data?.size ?? 0;
    let parsed: { value: unknown; text: string; tokens?: number } | undefined;
    if (!this.#roomFor(size, ceiling) && !this.#roomFor(event.data?.valueBytes() ?? 0, ceiling)) {
      this.#parseUnparsed();
      const value = event.data ? event.data.value() : undefined;
      parsed = { value, text: deltaText(value) };
      if (this.#completion + this.#unparsedBytes + Buffer.byteLength(parsed.text) > ceiling) {
        // Exact tokens from here: the first time in the process, the tokenizer is loaded first (resume).
        if (!tokenizerSettled()) return WAIT;
        this.#countUnparsed();
        parsed.tokens = countText(parsed.text);
        if (!this.#streaming && parsed.tokens > 0 && this.#completion + parsed.tokens > ceiling) return true;
      }
    }
    this.#take(event, parsed);
    return false;
  }

  /** Ends the stream: the events approved before go on (`keep`: the held bytes are theirs), then the closing error event. */
  #cutOff(approved: Buffer, keep: boolean, push: (bytes: Buffer) => void): true {
    if (keep) this.#release(approved, push);
    this.#held = [];
    this.#heldLength = 0;
    push(CUTOFF_EVENT);
    return true;
  }

  #release(last: Buffer, push: (bytes: Buffer) => void): void {
    const bytes = this.#held.length === 0 ? last : Buffer.concat([...this.#held, last]);
    this.#held = [];
    this.#heldLength = 0;
    if (bytes.length > 0) push(bytes);
  }

  /** Records a delivered event; `parsed` when it was read already (and `tokens` when counted). */
  #take(event: SseEvent, parsed: { value: unknown; text: string; tokens?: number } | undefined): void {
    const data = event.data;
    if (!data) return;
    const n = ++this.#events;
    let kept: BoundedBytes | string = data;
    if (parsed) {
      this.#model ??= modelOf(parsed.value);
      const usage = usageOf(parsed.value);
      if (usage) [this.#reported, this.#reportedAt] = [usage, n];
      if (parsed.tokens !== undefined) {
        this.#completion += parsed.tokens;
        return;
      }
      kept = parsed.text; // its text waits with the others: counted together, as delivered
    } else {
      this.#first ??= data;
      this.#recent.push({ n, data });
      if (this.#recent.length > RECENT) this.#recent.shift();
      if (data.hasObjectField('usage')) {
        this.#usages.push({ n, data });
        if (this.#usages.length > RECENT) this.#usages.shift();
      }
    }
    this.#unparsed.push(kept);
    const size = typeof kept === 'string' ? Buffer.byteLength(kept) : kept.size;
    this.#unparsedBytes += size;
    this.#keptBytes += size;
    if (this.#keptBytes > UNPARSED_LIMIT) this.#countUnparsed(); // bounded memory on long streams
  }

  /**
   * Whether `extra` bytes more fit under the ceiling, tightening kept events' bounds (a scan of
   * each, no parse) oldest first until they do or none is left to tighten.
   */
  #roomFor(extra: number, ceiling: number): boolean {
    while (this.#completion + this.#unparsedBytes + extra > ceiling) {
      const d = this.#unparsed[this.#tightCount];
      if (d === undefined) return false;
      this.#tightCount++;
      if (typeof d !== 'string') this.#unparsedBytes -= d.size - d.valueBytes();
    }
    return true;
  }

  /** Replaces the events kept unparsed by the text they deliver: a tighter bound, still no tokenizer. */
  #parseUnparsed(): void {
    let bytes = 0;
    for (let i = 0; i < this.#unparsed.length; i++) {
      const d = this.#unparsed[i] as BoundedBytes | string;
      const text = typeof d === 'string' ? d : deltaText(d.value());
      this.#unparsed[i] = text;
      bytes += Buffer.byteLength(text);
    }
    this.#unparsedBytes = this.#keptBytes = bytes;
    this.#tightCount = this.#unparsed.length;
  }

  #countUnparsed(): void {
    if (this.#unparsed.length === 0) return;
    const text = this.#unparsed.map((d) => (typeof d === 'string' ? d : deltaText(d.value()))).join('');
    this.#unparsed = [];
    this.#unparsedBytes = this.#keptBytes = this.#tightCount = 0;
    this.#completion += countText(text);
  }
}
