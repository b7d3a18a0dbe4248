import type { MeterOptions, UsageObservation } from './ports.js';
import { BoundedBytes } from './bounded.js';
import { modelOf, usageOf } from './count.js';

/**
 * Watches one answer's bytes on their way to the client. Every step is synchronous and passes
 * the bytes on at once: nothing waits for the tokenizer. Counting that needs it is done from
 * what was kept, once it is loaded (`observation`).
 */
export interface Meter {
  /** Passes the chunk on through `push` and observes it; true when the stream must be cut off here. */
  write(chunk: Buffer, push: (bytes: Buffer) => void): boolean;
  /** The input ended: passes on anything held back; true when that was cut off. */
  end(push: (bytes: Buffer) => void): boolean;
  /**
   * What the bytes seen so far tell about the usage: at once, or a promise (that never
   * rejects) when delivered text is to be counted and the tokenizer is still loading.
   */
  observation(): UsageObservation | Promise<UsageObservation>;
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

  observation(): UsageObservation {
    return { promptTokens: 0, completionTokens: 0, totalTokens: 0, source: 'none' };
  }
}

/** A JSON answer: passed on at once, its usage read once it is complete. */
export class JsonMeter extends OpaqueMeter {
  readonly #body = new BoundedBytes();

  constructor(private readonly options: MeterOptions) {
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
