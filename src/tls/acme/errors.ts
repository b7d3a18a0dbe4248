/**
 * What can go wrong while obtaining a certificate, each with a stable code. Bad options are not
 * AcmeErrors: they are refused before any network call as SoakpError('invalid_config').
 */
export type AcmeErrorCode =
  /** The ACME server refused or failed the order (its message is kept). */
  | 'acme_order_failed'
  /** A DNS provider could not create or remove a TXT record. */
  | 'acme_dns_provider_failed'
  /** The TXT record was not seen by the resolver before the deadline. */
  | 'acme_dns_propagation_timeout';

export class AcmeError extends Error {
  override readonly name = 'AcmeError';
  readonly code: AcmeErrorCode;
  /** Clean-up steps that also failed (a TXT record left behind): the operator removes it by hand. */
  readonly cleanupWarnings: readonly string[];

  constructor(code: AcmeErrorCode, message: string, options?: { cause?: unknown; cleanupWarnings?: readonly string[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.cleanupWarnings = options?.cleanupWarnings ?? [];
  }
}

/**
 * The error a failed order rejects with: `err` as an AcmeError (an order failure unless it is
 * one already), carrying the clean-up failures too, which would be lost otherwise.
 */
export function orderFailure(err: unknown, domains: readonly string[], cleanupWarnings: readonly string[]): AcmeError {
  if (err instanceof AcmeError && cleanupWarnings.length === 0) return err;
  const [code, message] = err instanceof AcmeError ? [err.code, err.message] : (['acme_order_failed', `ACME order for ${domains.join(', ')} failed: ${(err as Error).message}`] as const);
  const also = cleanupWarnings.length === 0 ? '' : `; also: ${cleanupWarnings.join('; ')}`;
  return new AcmeError(code, `${message}${also}`, { cause: err, cleanupWarnings: [...cleanupWarnings] });
}
