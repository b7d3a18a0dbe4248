import type { TapOptions, UsageObservation } from './ports.js';
import type { Meter } from './usage-meter.js';
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

/** Events kept unparsed while their text may never need counting (at most this many bytes). */
const UNPARSED_LIMIT = 1024 * 1024;
/** How many of a stream's last events are searched for its usage when it ends (a usage, then `[DONE]`, is the usual end). */
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
   * The first event (its model) and the last few not parsed on the way: a usage comes at the
   * end of a stream (OpenAI's usage chunk, `response.completed`), so it is looked for there once
   * the stream is over, instead of in every event as it passes.
   */
  #first: BoundedBytes | undefined;
  #recent: Array<{ n: number; data: BoundedBytes }> = [];
  #resolved = false;
  /** Bytes of the current, unfinished event not yet passed on (ceiling mode). */
  #held: Buffer[] = [];
  #heldLength = 0;
  /** The current event grew past the collect limit and is passed on as it comes, unchecked. */
  #streaming = false;

  constructor(private readonly options: TapOptions) {}

  write(chunk: Buffer, push: (bytes: Buffer) => void): boolean {
    const ceiling = this.options.completionCeiling;
    if (ceiling === undefined) {
      push(chunk);
      for (const event of this.#split.feed(chunk)) this.#take(event, undefined);
      return false;
    }
    // The events this chunk completes are passed on together, as one write: those before any cut-off.
    let approved = 0;
    for (const event of this.#split.feed(chunk)) {
      if (this.#exceeds(event, ceiling)) return this.#cutOff(chunk.subarray(0, approved), approved > 0, push);
      approved = event.end;
      this.#streaming = false;
    }
    if (approved > 0) this.#release(chunk.subarray(0, approved), push);
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

  end(push: (bytes: Buffer) => void): boolean {
    const last = this.#split.finish();
    const ceiling = this.options.completionCeiling;
    if (ceiling === undefined) {
      if (last) this.#take(last, undefined);
      return false;
    }
    if (last && this.#exceeds(last, ceiling)) return this.#cutOff(EMPTY, false, push);
    this.#release(EMPTY, push);
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
    const coming = this.#split.pendingBytes + bytes;
    if (this.#keptBytes + coming > UNPARSED_LIMIT) return true;
    const ceiling = this.options.completionCeiling;
    // The bounds of #exceeds, before any parse: within them, no event of the coming bytes is counted.
    return ceiling !== undefined && !this.#roomFor(coming, ceiling);
  }

  countsAtEnd(): boolean {
    this.#resolve();
    return this.#reported === undefined && this.#unparsed.length > 0;
  }

  /** The stream is over: its usage from the last events (the latest one that has it), its model from that event or the first. */
  #resolve(): void {
    if (this.#resolved) return;
    this.#resolved = true;
    for (let i = this.#recent.length - 1; i >= 0; i--) {
      const { n, data } = this.#recent[i] as { n: number; data: BoundedBytes };
      if (n < this.#reportedAt || !data.hasObjectField('usage')) continue;
      const value = data.value();
      const usage = usageOf(value);
      if (!usage) continue;
      this.#reported = usage;
      this.#model ??= modelOf(value);
      break;
    }
    if (this.#model === undefined && this.#first) this.#model = modelOf(this.#first.value());
  }

  /**
   * Whether a finished event would pass the ceiling (it is then withheld, and the stream ends in
   * its place); if not, it is taken as delivered. Four bounds, each paid for only when the
   * cheaper one cannot rule the ceiling out (a token is at least one byte): event bytes (no
   * work), the bytes of their JSON string values (a scan), the bytes of the text they deliver
   * (a JSON parse), then exact tokens (the tokenizer).
   */
  #exceeds(event: SseEvent, ceiling: number): boolean {
    const size = event.data?.size ?? 0;
    let parsed: { value: unknown; text: string; tokens?: number } | undefined;
    if (!this.#roomFor(size, ceiling) && !this.#roomFor(event.data?.valueBytes() ?? 0, ceiling)) {
      this.#parseUnparsed();
      const value = event.data ? event.data.value() : undefined;
      parsed = { value, text: deltaText(value) };
      if (this.#completion + this.#unparsedBytes + Buffer.byteLength(parsed.text) > ceiling) {
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
