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

/**
 * Asynchronous logs are buffered up to 32 KB and written at least every 100 ms: one write per
 * line costs a system call per request on a busy proxy (nginx buffers its access log alike).
 * pino writes what is buffered when the process exits, also after an uncaught error; only a
 * SIGKILL or a power cut can lose the last 100 ms of lines.
 */
function destination(fd: 1 | 2, sync: boolean): DestinationStream {
  return sync ? pino.destination({ dest: fd, sync }) : pino.destination({ dest: fd, sync, minLength: 32 * 1024, maxWrite: 64 * 1024, periodicFlush: 100 });
}

let lastMs = -1;
let lastTime = '';

/** pino's ISO time, formatted once per millisecond: a busy proxy logs several lines in each. */
export function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}
