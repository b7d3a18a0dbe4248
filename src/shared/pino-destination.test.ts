import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { packageInternals } from '../../test/helpers/package-internals.js';
import { createLogger } from './logger.js';
import { destinationOf } from './pino-destination.js';

// pino-destination.ts reads a logger's stream and serialised bindings behind pino's symbols:
// these checks fail, naming pino's version, as soon as an install changes them.
const internals = packageInternals('pino', 'src/shared/pino-destination.ts');

describe('pino internals (pino-destination.ts)', () => {
  it('exports the symbols read', () => {
    for (const name of ['streamSym', 'chindingsSym'] as const) {
      expect(typeof pino.symbols[name], internals.says(`pino.symbols.${name} is gone`)).toBe('symbol');
    }
  });

  it("finds the logger's own stream: the one given, or its sonic-boom destination", () => {
    const lines: string[] = [];
    const given = { write: (line: string) => void lines.push(line) };
    expect(destinationOf(createLogger('info', { stream: given })).stream, internals.says('streamSym no longer holds the stream given')).toBe(given);
    const { stream } = destinationOf(createLogger('info', { fd: 2 }));
    expect(typeof stream?.write, internals.says("streamSym no longer holds the destination's write")).toBe('function');
    expect(typeof stream.flushSync, internals.says('the destination has no flushSync')).toBe('function');
  });

  it('finds the bindings as pino writes them into each line, a child’s included', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { stream: { write: (line: string) => void lines.push(line) } }).child({ part: 'probe' });
    const { bindings } = destinationOf(logger);
    expect(bindings, internals.says('chindingsSym no longer holds the serialised bindings')).toBe(',"service":"soakp","part":"probe"');
    logger.info('x');
    expect(lines[0]?.endsWith(`${bindings},"msg":"x"}\n`), internals.says(`a line no longer carries the bindings as read: ${lines[0]}`)).toBe(true);
  });
});
