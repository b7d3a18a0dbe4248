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
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

/** One access-log line: ids, the method and path (no query), and counts — never a secret. */
export interface AccessFields {
  reqId: string;
  userId?: string | undefined;
  tokenId?: string | undefined;
  upstream?: string | undefined;
  method: string | undefined;
  path: string;
  status: number;
  ms: number;
  bytesIn: number;
  bytesOut: number;
  upstreamRequestId?: string | undefined;
}

/**
 * The data plane's access log: the line pino would write for `logger.info(fields, 'request')`,
 * built as one string and handed to the logger's own (buffered) destination. It is written for
 * every request, so it skips pino's generic walk over the object and the redaction pass — its
 * fields are ids and counts by construction.
 */
export function accessLog(logger: Logger): (f: AccessFields) => void {
  const own = logger as unknown as Record<symbol, unknown>;
  const stream = own[pino.symbols.streamSym] as DestinationStream;
  const bindings = own[pino.symbols.chindingsSym] as string;
  const str = JSON.stringify;
  return (f) => {
    if (!logger.isLevelEnabled('info')) return;
    let line = `{"level":30${isoTime()}${bindings},"reqId":${str(f.reqId)}`;
    if (f.userId !== undefined) line += `,"userId":${str(f.userId)},"tokenId":${str(f.tokenId)},"upstream":${str(f.upstream)}`;
    line += `,"method":${str(f.method ?? '')},"path":${str(f.path)},"status":${f.status},"ms":${f.ms},"bytesIn":${f.bytesIn},"bytesOut":${f.bytesOut}`;
    if (f.upstreamRequestId !== undefined) line += `,"upstreamRequestId":${str(f.upstreamRequestId)}`;
    stream.write(`${line},"msg":"request"}\n`);
  };
}
