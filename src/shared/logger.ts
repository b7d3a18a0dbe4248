import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Structured logs. Secrets are kept out in two ways: they are `Secret` values that print as
 * `[secret]`, and any field that carries credentials by name is redacted here as well.
 */
export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  '*.headers["api-key"]',
  '*.headers["x-api-key"]',
  '*.headers.cookie',
  '*.headers["x-openwebui-user-jwt"]',
  'key',
  '*.key',
  'token',
  '*.token',
  'masterKey',
  '*.masterKey',
];

export interface LogTarget {
  /** 1: stdout (the server's log stream); 2: stderr (the CLI, whose stdout is its output). */
  fd?: 1 | 2;
  sync?: boolean;
  stream?: DestinationStream;
}

export function createLogger(level: string, target: LogTarget = {}): Logger {
  return pino(
    {
      level,
      base: { service: 'soakp' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: isoTime,
    },
    target.stream ?? destination(target.fd ?? 1, target.sync ?? false),
  );
}

/** The most an asynchronous destination writes at once (sonic-boom's default is 16 K). */
export const MAX_WRITE = 64 * 1024;

/**
 * Asynchronous logs are written as they come, off the event loop; lines that come while a
 * write is under way go out together in the next. The per-request access line is batched
 * before it gets here (access-log.ts): sonic-boom's own buffering (`minLength`) measures its
 * whole pending buffer on every line, which costs more than the system call it saves. pino
 * writes what is pending when the process exits, also after an uncaught error.
 */
function destination(fd: 1 | 2, sync: boolean): DestinationStream {
  return sync ? pino.destination({ dest: fd, sync }) : pino.destination({ dest: fd, sync, maxWrite: MAX_WRITE });
}

let lastMs = -1;
let lastTime = '';
let lastSecond = -1;
let secondPrefix = '';

/**
 * pino's ISO time. A busy proxy writes a line or more per millisecond: the text is made once
 * per millisecond, and `toISOString` runs once per second (the milliseconds are 3 digits).
 */
export function isoTime(): string {
  const now = Date.now();
  if (now === lastMs) return lastTime;
  lastMs = now;
  const second = Math.floor(now / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    secondPrefix = `,"time":"${new Date(second * 1000).toISOString().slice(0, 20)}`; // …T12:34:56.
  }
  const ms = now - second * 1000;
  lastTime = `${secondPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
  return lastTime;
}
