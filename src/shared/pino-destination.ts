import { type Logger, pino } from 'pino';

// The adapter of pino's private state; no other file reads it. The data plane's access line
// (access-log.ts) is built as one string and written in batches straight to the logger's own
// destination, with the logger's bindings as pino has already serialised them: that saves pino's
// walk over an object and its redaction (≈3 µs a line) and sonic-boom's measure of its whole
// buffer on every line (docs/benchmarks.md). pino's API has no way to reach either; it keeps them
// behind the symbols it exports for integrations (`pino.symbols`). pino-destination.test.ts fails,
// naming pino's version, when they change shape.

/** What pino's destination (sonic-boom) offers beyond write. */
export interface Destination {
  write(text: string): unknown;
  flushSync?(): void;
}

/** The stream a logger writes to, and its bindings as pino writes them into each line (`,"key":value…`). */
export function destinationOf(logger: Logger): { stream: Destination; bindings: string } {
  const own = logger as unknown as Record<symbol, unknown>;
  return { stream: own[pino.symbols.streamSym] as Destination, bindings: own[pino.symbols.chindingsSym] as string };
}
