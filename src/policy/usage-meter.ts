import type { TapOptions, UsageObservation } from './ports.js';
import { BoundedBytes } from './usage-bounded.js';
import { modelOf, usageOf } from './usage-count.js';

/** A count is due and the tokenizer is not loaded yet: call `resume` once `loadTokenizer()` has settled. */
export const WAIT = 'wait';

/** What a step of a meter did: true when the stream was cut off there, WAIT when it stopped for the tokenizer. */
export type Written = boolean | typeof WAIT;

/** Watches one answer's bytes on their way to the client. */
export interface Meter {
  /** Passes the chunk on through `push` and observes it; true when the stream must be cut off here. */
  write(chunk: Buffer, push: (bytes: Buffer) => void): Written;
  /** The input ended: passes on anything held back; true when that was cut off. */
  end(push: (bytes: Buffer) => void): Written;
  /** Goes on where write or end stopped with WAIT (nothing to do otherwise). */
  resume(push: (bytes: Buffer) => void): Written;
  /** What the bytes seen so far tell about the usage. */
  observation(): UsageObservation;
  /**
   * Whether taking `bytes` more would count the text kept so far (kept too long): the caller
   * then has the tokenizer loaded before writing them.
   */
  mayCount(bytes: number): boolean;
  /** Whether `observation()` will count delivered text (no usage was reported). */
  countsAtEnd(): boolean;
}

/** Audio, images as bytes, files: passed on at once; nothing in them says tokens. */
export class OpaqueMeter implements Meter {
  write(chunk: Buffer, push: (bytes: Buffer) => void): boolean {
    push(chunk);
    return false;
  }

  end(): boolean {
    return false;
  }

  resume(): boolean {
    return false;
  }

  mayCount(): boolean {
    return false;
  }

  countsAtEnd(): boolean {
    return false;
  }

  observation(): UsageObservation {
    return { promptTokens: 0, completionTokens: 0, totalTokens: 0, source: 'none' };
  }
}

/** A JSON answer: passed on at once, its usage read once it is complete. */
export class JsonMeter extends OpaqueMeter {
  readonly #body = new BoundedBytes();

  constructor(private readonly options: TapOptions) {
    super();
  }

  override write(chunk: Buffer, push: (bytes: Buffer) => void): boolean {
    push(chunk);
    this.#body.push(chunk);
    return false;
  }

  override observation(): UsageObservation {
    const value = this.#body.value();
    const usage = usageOf(value);
    const model = modelOf(value);
    if (usage) return { promptTokens: usage.prompt, completionTokens: usage.completion, totalTokens: usage.total, source: 'reported', model };
    // No usage (an error, a cut-off body, an upstream that omits it): the request's own estimate.
    const prompt = this.options.promptEstimate ?? 0;
    return { promptTokens: prompt, completionTokens: 0, totalTokens: prompt, source: 'estimated', model };
  }
}
