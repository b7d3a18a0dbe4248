import type { MeterOptions, UsageObservation } from './ports.js';
import type { Meter } from './meter.js';
import { loadTokenizer, tokenizerSettled } from './tokenizer.js';
import { COLLECT_LIMIT } from './bounded.js';
import { countText, deltaText } from './count.js';
import { StreamFacts } from './facts.js';
import { KeptText } from './kept.js';
import { type SseEvent, SseSplitter } from './sse.js';
import { NULL_USAGE_LENGTH, isUsageOnly, lastNullUsageAt, without, withoutNullUsage } from './strip.js';

/** The last event a client gets when the budget runs out mid-stream: what OpenAI sends for no quota. */
export const CUTOFF_EVENT = Buffer.from(
  `data: ${JSON.stringify({
    error: { message: 'The token budget of this request was used up; the stream was ended.', type: 'insufficient_quota', code: 'insufficient_quota', param: null },
  })}\n\n`,
);

const EMPTY = Buffer.alloc(0);

/**
 * An SSE answer. Without a ceiling each chunk goes on at once. With one, bytes go on at event
 * boundaries, so an event that would pass the ceiling can be withheld whole; the client loses
 * nothing by it, as SSE clients act on an event only once its blank line has arrived. The same
 * when soakp asked for the usage on the client's behalf (`stripUsage`): whole events are what
 * it edits (strip.ts).
 */
export class SseMeter implements Meter {
  readonly #split = new SseSplitter();
  readonly #text = new KeptText();
  readonly #facts = new StreamFacts();
  /** Bytes of the current, unfinished event not yet passed on (ceiling mode). */
  #held: Buffer[] = [];
  #heldLength = 0;
  /** The current event grew past the collect limit and is passed on as it comes, unchecked. */
  #streaming = false;

  /** Bytes go on at event boundaries: under a ceiling, or to take out what soakp asked for. */
  readonly #whole: boolean;

  constructor(private readonly options: MeterOptions) {
    this.#whole = options.completionCeiling !== undefined || options.stripUsage === true;
  }

  write(chunk: Buffer, push: (bytes: Buffer) => void): boolean {
    if (!this.#whole) {
      push(chunk);
      for (const event of this.#split.feed(chunk)) this.#take(event, undefined);
      return false;
    }
    return this.#run(chunk, this.#split.feed(chunk), false, push);
  }

  end(push: (bytes: Buffer) => void): boolean {
    const last = this.#split.finish();
    if (!this.#whole) {
      if (last) this.#take(last, undefined);
      return false;
    }
    return this.#run(EMPTY, last ? [last] : [], true, push);
  }

  /**
   * Decides the events of a chunk in turn (the held bytes belong to the first of them). The
   * events it approves go on together, as one write — all of them, or those before a cut-off.
   */
  #run(chunk: Buffer, events: readonly SseEvent[], atEnd: boolean, push: (bytes: Buffer) => void): boolean {
    const ceiling = this.options.completionCeiling;
    let approved = 0;
    for (const event of events) {
      if (ceiling === undefined) this.#take(event, undefined);
      else if (this.#exceeds(event, ceiling)) return this.#cutOff(chunk.subarray(0, approved), approved > 0, push);
      if (this.options.stripUsage) this.#strip(chunk, approved, event);
      approved = Math.max(approved, event.end);
      this.#streaming = false;
    }
    if (atEnd) {
      this.#release(EMPTY, push);
      return false;
    }
    // A chunk of whole events, the usual case, goes on as it is.
    if (approved > 0 || this.#drops) this.#release(approved === chunk.length ? chunk : chunk.subarray(0, approved), push);
    if (approved === chunk.length) return false;
    const rest = chunk.subarray(approved);
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

  observation(): UsageObservation | Promise<UsageObservation> {
    const facts = this.#facts;
    facts.resolve();
    const r = facts.reported;
    if (r) return { promptTokens: r.prompt, completionTokens: r.completion, totalTokens: r.total, source: 'reported', model: facts.model };
    // The delivered text is counted now the stream is over (off the event loop while the tokenizer is not loaded here).
    const counting = this.#text.countAfter();
    return counting ? counting.then(() => this.#counted()) : this.#counted();
  }

  #counted(): UsageObservation {
    const facts = this.#facts;
    const prompt = this.options.promptEstimate ?? 0;
    const completion = this.#text.completion;
    return { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion, source: 'counted', model: facts.model };
  }

  /**
   * Whether a finished event would pass the ceiling (it is then withheld, and the stream ends in
   * its place); if not, it is taken as delivered. Four bounds, each paid for only when the
   * cheaper one cannot rule the ceiling out (a token is at least one byte): event bytes (no
   * work), the bytes of their JSON string values (a scan), the bytes of the text they deliver
   * (a JSON parse), then exact tokens (the tokenizer).
   *
   * Nothing waits for the tokenizer. Until it is loaded, the text's bytes stand in for its
   * tokens: an upper bound, so the reservation is never passed, though the stream may end
   * early. To make that rare the tables start loading (in the background) once the bound
   * passes half the ceiling, and are usually in by the time exact counts are due.
   */
  #exceeds(event: SseEvent, ceiling: number): boolean {
    const text = this.#text;
    const size = event.data?.size ?? 0;
    if (!tokenizerSettled() && !text.roomFor(size, ceiling / 2) && !text.roomFor(event.data?.valueBytes() ?? 0, ceiling / 2)) void loadTokenizer();
    let parsed: { value: unknown; text: string; tokens?: number } | undefined;
    if (!text.roomFor(size, ceiling) && !text.roomFor(event.data?.valueBytes() ?? 0, ceiling)) {
      text.parse();
      const value = event.data ? event.data.value() : undefined;
      parsed = { value, text: deltaText(value) };
      if (text.completion + text.bound + Buffer.byteLength(parsed.text) > ceiling) {
        // The bytes bound cannot rule the ceiling out: exact tokens from here, or the bound itself until they can be counted.
        if (!tokenizerSettled()) return !this.#streaming && parsed.text !== '';
        text.count();
        parsed.tokens = countText(parsed.text);
        if (!this.#streaming && parsed.tokens > 0 && text.completion + parsed.tokens > ceiling) return true;
      }
    }
    this.#take(event, parsed);
    return false;
  }

  /** Ends the stream: the events approved before go on (`keep`: the held bytes are theirs), then the closing error event. */
  #cutOff(approved: Buffer, keep: boolean, push: (bytes: Buffer) => void): true {
    if (keep) this.#release(approved, push);
    this.#drops = undefined;
    this.#search = false;
    this.#held = [];
    this.#heldLength = 0;
    push(CUTOFF_EVENT);
    return true;
  }

  /** Ranges of the chunk (pairs of offsets, in order) not to pass on; one from 0 takes the held bytes too. */
  #drops: number[] | undefined;
  /** An approved event may hold `"usage": null` somewhere else than at its end: the bytes passed on are searched. */
  #search = false;

  /**
   * Marks what soakp asked for in an approved event (bytes `from`..`event.end` of the chunk;
   * from 0, the held bytes are its start): its last `"usage":null` member, as OpenAI sends it
   * in every chunk (a look at its last bytes), or the whole event when it is the usage-only one
   * (read for the usage before it is dropped). Anything else is left to a search on release.
   */
  #strip(chunk: Buffer, from: number, event: SseEvent): void {
    const at = lastNullUsageAt(chunk, from, event.end);
    if (at >= 0) (this.#drops ??= []).push(at, at + NULL_USAGE_LENGTH);
    else if (isUsageOnly(event)) (this.#drops ??= []).push(from, Math.max(from, event.end));
    else this.#search = true;
  }

  #release(last: Buffer, push: (bytes: Buffer) => void): void {
    let bytes = this.#held.length === 0 ? last : this.#held.length === 1 && last.length === 0 ? (this.#held[0] as Buffer) : Buffer.concat([...this.#held, last]);
    this.#held = [];
    this.#heldLength = 0;
    if (this.#drops) bytes = without(bytes, bytes.length - last.length, this.#drops);
    this.#drops = undefined;
    if (this.#search) bytes = withoutNullUsage(bytes);
    this.#search = false;
    if (bytes.length > 0) push(bytes);
  }

  /** Records a delivered event; `parsed` when it was read already (and `tokens` when counted). */
  #take(event: SseEvent, parsed: { value: unknown; text: string; tokens?: number } | undefined): void {
    const data = event.data;
    if (!data) return;
    if (!parsed) {
      this.#facts.seen(data);
      return this.#text.add(data);
    }
    this.#facts.parsed(parsed.value);
    if (parsed.tokens !== undefined) this.#text.completion += parsed.tokens;
    else this.#text.add(parsed.text); // its text waits with the others: counted together, as delivered
  }
}
