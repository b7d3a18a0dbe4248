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

  constructor(code: AcmeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
