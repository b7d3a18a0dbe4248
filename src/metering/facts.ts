import type { BoundedBytes } from './bounded.js';
import { type Counts, modelOf, usageOf } from './count.js';

/** How many of a stream's last events, and of its last events with a usage object, are kept to be read when it ends. */
const RECENT = 4;
/** The bytes of events held before the byte search for a usage object runs over them. */
const UNCHECKED_LIMIT = 64 * 1024;

type Numbered = { n: number; data: BoundedBytes };

/**
 * What a stream says about itself: its reported usage and its model. Events are not parsed as
 * they pass: the first (its model), the last few, and the last few that hold a usage object are
 * kept and read once the stream is over. Which events hold one is a byte search, put off until
 * the stream ends (then it usually stops at the last event) or until the events not searched
 * yet hold UNCHECKED_LIMIT bytes. The latest valid usage wins (of the last few usage objects,
 * which is where a stream puts its usage), as if every event had been read.
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
  /** Events not searched for a usage object yet (all later than those in #usages). */
  #unchecked: Numbered[] = [];
  #uncheckedBytes = 0;
  #resolved = false;

  /** An event passed unparsed. */
  seen(data: BoundedBytes): void {
    const n = ++this.#events;
    this.#first ??= data;
    keepLast(this.#recent, { n, data });
    this.#unchecked.push({ n, data });
    this.#uncheckedBytes += data.size;
    if (this.#uncheckedBytes > UNCHECKED_LIMIT) this.#check();
  }

  /** Searches the held events for a usage object; those with one are kept, the others let go. */
  #check(): void {
    for (const item of this.#unchecked) if (item.data.hasObjectField('usage')) keepLast(this.#usages, item);
    this.#unchecked = [];
    this.#uncheckedBytes = 0;
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
    this.#latestUsage();
    this.#unchecked = [];
    // Some upstreams open with an event whose model is empty (Azure's prompt filter results).
    if (this.model === undefined && this.#first) this.model = modelOf(this.#first.value());
    for (let i = this.#recent.length - 1; i >= 0 && this.model === undefined; i--) this.model = modelOf(this.#recent[i]?.data.value());
  }

  /**
   * The latest valid usage among the last RECENT events that hold a usage object, unless the one
   * reported on the way is newer: the unchecked events (the newest) searched first, then those
   * kept from earlier checks — the same events whenever the checks ran.
   */
  #latestUsage(): void {
    let left = RECENT;
    for (const [events, search] of [[this.#unchecked, true], [this.#usages, false]] as const) {
      for (let i = events.length - 1; i >= 0 && left > 0; i--) {
        const { n, data } = events[i] as Numbered;
        if (n < this.#reportedAt) return; // what was reported on the way is newer
        if (search && !data.hasObjectField('usage')) continue;
        left--;
        const value = data.value();
        const usage = usageOf(value);
        if (!usage) continue;
        this.reported = usage;
        this.model ??= modelOf(value);
        return;
      }
    }
  }
}

function keepLast(list: Numbered[], item: Numbered): void {
  list.push(item);
  if (list.length > RECENT) list.shift();
}
