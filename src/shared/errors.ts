import { STATUS_CODES } from 'node:http';
/**
 * One error type for everything soakp itself refuses or fails at. Each has a stable
 * `code` from the catalogue below, the HTTP status it maps to, and a message that is safe
 * to show: it never contains a secret (callers pass only ids, emails and counts).
 * Upstream errors are not SoakpErrors: they pass through untouched.
 */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error';

interface CatalogueEntry {
  readonly status: number;
  readonly type: ErrorType;
}

export const ERROR_CATALOGUE = {
  invalid_request: { status: 400, type: 'invalid_request_error' },
  invalid_config: { status: 400, type: 'invalid_request_error' },
  invalid_email: { status: 400, type: 'invalid_request_error' },
  invalid_key: { status: 400, type: 'invalid_request_error' },
  invalid_duration: { status: 400, type: 'invalid_request_error' },
  unknown_model_price: { status: 400, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  missing_api_key: { status: 401, type: 'authentication_error' },
  token_expired: { status: 401, type: 'authentication_error' },
  token_revoked: { status: 401, type: 'authentication_error' },
  conflicting_credentials: { status: 401, type: 'authentication_error' },
  user_disabled: { status: 403, type: 'permission_error' },
  forbidden: { status: 403, type: 'permission_error' },
  https_required: { status: 403, type: 'permission_error' },
  model_not_allowed: { status: 403, type: 'permission_error' },
  endpoint_not_allowed: { status: 403, type: 'permission_error' },
  upstream_not_allowed: { status: 403, type: 'permission_error' },
  no_upstream_key: { status: 403, type: 'permission_error' },
  endpoint_not_metered: { status: 403, type: 'permission_error' },
  model_unreadable: { status: 403, type: 'permission_error' },
  origin_required: { status: 403, type: 'permission_error' },
  origin_not_allowed: { status: 403, type: 'permission_error' },
  mint_only: { status: 403, type: 'permission_error' },
  not_minting_token: { status: 403, type: 'permission_error' },
  not_found: { status: 404, type: 'not_found_error' },
  user_not_found: { status: 404, type: 'not_found_error' },
  token_not_found: { status: 404, type: 'not_found_error' },
  upstream_not_found: { status: 404, type: 'not_found_error' },
  key_not_found: { status: 404, type: 'not_found_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  conflict: { status: 409, type: 'invalid_request_error' },
  user_exists: { status: 409, type: 'invalid_request_error' },
  request_timeout: { status: 408, type: 'invalid_request_error' },
  payload_too_large: { status: 413, type: 'invalid_request_error' },
  headers_too_large: { status: 431, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  rate_limited: { status: 429, type: 'rate_limit_error' },
  insufficient_quota: { status: 429, type: 'rate_limit_error' },
  client_closed: { status: 499, type: 'invalid_request_error' },
  internal_error: { status: 500, type: 'server_error' },
  decrypt_failed: { status: 500, type: 'server_error' },
  master_key_mismatch: { status: 500, type: 'server_error' },
  master_key_missing: { status: 500, type: 'server_error' },
  store_unavailable: { status: 503, type: 'server_error' },
  shutting_down: { status: 503, type: 'server_error' },
  limiter_unavailable: { status: 503, type: 'server_error' },
  server_busy: { status: 503, type: 'server_error' },
  store_corrupt: { status: 500, type: 'server_error' },
  upstream_unreachable: { status: 502, type: 'server_error' },
  upstream_timeout: { status: 504, type: 'server_error' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class SoakpError extends Error {
  override readonly name = 'SoakpError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: ErrorType;
  /** Response headers that belong with this refusal (e.g. Retry-After and x-ratelimit-* on a 429). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(message, options);
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.type = ERROR_CATALOGUE[code].type;
    this.headers = options?.headers ?? {};
  }
}

export function isSoakpError(value: unknown): value is SoakpError {
  return value instanceof SoakpError;
}

export interface OpenAIErrorEnvelope {
  error: { message: string; type: ErrorType; code: string; param: null };
}

/** The single mapping from an error to OpenAI's envelope; unknown errors never leak details. */
export function toEnvelope(err: unknown): { status: number; body: OpenAIErrorEnvelope } {
  const e = isSoakpError(err)
    ? err
    : new SoakpError('internal_error', 'The proxy failed to handle the request.');
  return {
    status: e.status,
    body: { error: { message: e.message, type: e.type, code: e.code, param: null } },
  };
}

/** An error as an answer, ready to write: every entry writes its error answers from this. */
export interface ErrorAnswer {
  /** The error itself (anything unknown became `internal_error`). */
  readonly error: SoakpError;
  readonly status: number;
  /** The error's own headers (Allow, Retry-After, …), the content type and length. */
  readonly headers: Record<string, string>;
  /** The envelope, as JSON. */
  readonly text: string;
}

/** The one writer of the error envelope: what the data plane, the control plane and raw sockets send. */
export function errorAnswer(err: unknown, extra?: Record<string, string>): ErrorAnswer {
  const error = isSoakpError(err) ? err : new SoakpError('internal_error', 'The proxy failed to handle the request.', { cause: err });
  const text = JSON.stringify(toEnvelope(error).body);
  const headers = { ...error.headers, ...extra, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) };
  return { error, status: error.status, headers, text };
}

/**
 * An error as a whole HTTP/1.1 answer for a raw socket — a refused WebSocket upgrade, a
 * request Node's parser refused — in the same envelope and with the error's own headers; the
 * connection is closed after it.
 */
export function rawErrorAnswer(err: unknown, extra?: Record<string, string>): string {
  const a = errorAnswer(err, extra);
  let head = `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status]}\r\n`;
  for (const [name, value] of Object.entries(a.headers)) head += `${name}: ${value}\r\n`;
  return `${head}connection: close\r\n\r\n${a.text}`;
}
