import { createRequire } from 'node:module';
import type { RateLimiterRedis as Redised, RateLimiterRes } from 'rate-limiter-flexible';

// The adapter of rate-limiter-flexible's private files; no other file may load them (the import
// rules of docs/ARCHITECTURE.md). The package's index loads every backend it has (MySQL, Mongo,
// cluster, …; ~1 MB of an idle server); these two files are the only ones used. The memory store
// is the one inside RateLimiterMemory, used without that class's Promise wrapper: in one process
// a count is a Map update, and answering it synchronously keeps a promise and a microtask off
// every request (docs/benchmarks.md, synchronous admission). They are the package's internals,
// so package.json pins its exact version; rate-limiter-flexible-core.test.ts fails, naming the
// version, when they change shape.
const load = createRequire(import.meta.url);

export const RateLimiterRedis = load('rate-limiter-flexible/lib/RateLimiterRedis.js') as typeof Redised;
export const MemoryStorage = load('rate-limiter-flexible/lib/component/MemoryStorage/MemoryStorage.js') as new () => MemoryStore;

/** What RateLimiterMemory keeps its counts in: `incrby` answers at once. */
export interface MemoryStore {
  incrby(key: string, value: number, durationSec: number): RateLimiterRes;
}
