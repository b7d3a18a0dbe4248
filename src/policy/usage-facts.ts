import type { BoundedBytes } from './usage-bounded.js';
import { type Counts, modelOf, usageOf } from './usage-count.js';

/** How many of a stream's last events, and of its last events with a usage object, are kept to be read when it ends. */
const RECENT = 4;

type Numbered = { n: number; data: BoundedBytes };

/**
 * What a stream says about itself: its reported usage and its model. Events are not parsed as
 * they pass: the first (its model), the last few, and the last few that hold a usage object (a
 * byte search per event) are kept and read once the stream is over. The latest valid usage
 * wins, as if every event had been read.
 */
export class StreamFacts {
  reported: Counts | undefined;
  model: string | undefined;
  /** The number of the event `reported` came from (events with data are numbered from 1). */
  #reportedAt = 0;
  #events = 0;
  #first: BoundedBytes | undefined;
  #recent: Numbered[] = [];
  #usages: Numbered[] = [];
  #resolved = false;

  /** An event passed unparsed. */
  seen(data: BoundedBytes): void {
    const n = ++this.#events;
    this.#first ??= data;
    keepLast(this.#recent, { n, data });
    if (data.hasObjectField('usage')) keepLast(this.#usages, { n, data });
  }

  /** An event that was parsed on the way (near the budget ceiling). */
  parsed(value: unknown): void {
    const n = ++this.#events;
    this.model ??= modelOf(value);
    const usage = usageOf(value);
    if (usage) [this.reported, this.#reportedAt] = [usage, n];
  }

  /** The stream is over: its usage (the latest valid one), its model from that event, the first, or the last few. */
  resolve(): void {
    if (this.#resolved) return;
    this.#resolved = true;
    for (let i = this.#usages.length - 1; i >= 0; i--) {
      const { n, data } = this.#usages[i] as Numbered;
      if (n < this.#reportedAt) break;
      const value = data.value();
      const usage = usageOf(value);
      if (!usage) continue;
      this.reported = usage;
      this.model ??= modelOf(value);
      break;
    }
    // Some upstreams open with an event whose model is empty (Azure's prompt filter results).
    if (this.model === undefined && this.#first) this.model = modelOf(this.#first.value());
    for (let i = this.#recent.length - 1; i >= 0 && this.model === undefined; i--) this.model = modelOf(this.#recent[i]?.data.value());
  }
}

function keepLast(list: Numbered[], item: Numbered): void {
  list.push(item);
  if (list.length > RECENT) list.shift();
}
