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
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    target.stream ?? pino.destination({ dest: target.fd ?? 1, sync: target.sync ?? false }),
  );
}
