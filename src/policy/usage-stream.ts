import type { TapOptions, UsageObservation } from './ports.js';
import type { Meter } from './usage-meter.js';
import { COLLECT_LIMIT } from './usage-bounded.js';
import { type Counts, deltaTokens, modelOf, usageOf } from './usage-count.js';
import { type SseEvent, SseSplitter } from './usage-sse.js';

/** The last event a client gets when the budget runs out mid-stream: what OpenAI sends for no quota. */
export const CUTOFF_EVENT = Buffer.from(
  `data: ${JSON.stringify({
    error: { message: 'The token budget of this request was used up; the stream was ended.', type: 'insufficient_quota', code: 'insufficient_quota', param: null },
  })}\n\n`,
);

const EMPTY = Buffer.alloc(0);

interface Seen {
  readonly tokens: number;
  readonly usage: Counts | undefined;
  readonly model: string | undefined;
}

/**
 * An SSE answer. Without a ceiling each chunk goes on at once. With one, bytes go on at event
 * boundaries, so an event that would pass the ceiling can be withheld whole; the client loses
 * nothing by it, as SSE clients act on an event only once its blank line has arrived.
 */
export class SseMeter implements Meter {
  readonly #split = new SseSplitter();
  #completion = 0;
  #reported: Counts | undefined;
  #model: string | undefined;
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
      for (const event of this.#split.feed(chunk)) this.#take(inspect(event));
      return false;
    }
    let from = 0;
    for (const event of this.#split.feed(chunk)) {
      if (this.#deliver(inspect(event), chunk.subarray(from, event.end), ceiling, push)) return true;
      from = event.end;
    }
    const rest = chunk.subarray(from);
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
      if (last) this.#take(inspect(last));
      return false;
    }
    if (last) return this.#deliver(inspect(last), EMPTY, ceiling, push);
    this.#release(EMPTY, push);
    return false;
  }

  observation(): UsageObservation {
    const r = this.#reported;
    if (r) return { promptTokens: r.prompt, completionTokens: r.completion, totalTokens: r.total, source: 'reported', model: this.#model };
    const prompt = this.options.promptEstimate;
    return { promptTokens: prompt, completionTokens: this.#completion, totalTokens: prompt + this.#completion, source: 'counted', model: this.#model };
  }

  /** Passes a finished event on, or ends the stream in its place when it would pass the ceiling. */
  #deliver(seen: Seen, last: Buffer, ceiling: number, push: (bytes: Buffer) => void): boolean {
    if (!this.#streaming && seen.tokens > 0 && this.#completion + seen.tokens > ceiling) {
      this.#held = [];
      this.#heldLength = 0;
      push(CUTOFF_EVENT);
      return true;
    }
    this.#release(last, push);
    this.#streaming = false;
    this.#take(seen);
    return false;
  }

  #release(last: Buffer, push: (bytes: Buffer) => void): void {
    const bytes = this.#held.length === 0 ? last : Buffer.concat([...this.#held, last]);
    this.#held = [];
    this.#heldLength = 0;
    if (bytes.length > 0) push(bytes);
  }

  #take(seen: Seen): void {
    this.#completion += seen.tokens;
    if (seen.usage) this.#reported = seen.usage;
    this.#model ??= seen.model;
  }
}

function inspect(event: SseEvent): Seen {
  const value = event.data?.value();
  return { tokens: deltaTokens(value), usage: usageOf(value), model: modelOf(value) };
}
