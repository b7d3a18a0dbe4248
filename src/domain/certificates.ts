/** A certificate soakp obtains and renews itself (ACME), as the store keeps it. Its private key is sealed apart, among the secrets. */
export interface CertificateRecord {
  /** The names it is for, joined by commas: one record per set of names. */
  readonly name: string;
  readonly domains: readonly string[];
  /** Absent until one was obtained. */
  readonly issued?: IssuedCertificate | undefined;
  /** The last failure, until a renewal succeeds. */
  readonly lastError?: { readonly message: string; readonly at: number; readonly retryAt: number } | undefined;
  /** Set by `soakp tls renew`: the server holding the lease renews now. */
  readonly renewRequestedAt?: number | undefined;
  readonly updatedAt: number;
}

export interface IssuedCertificate {
  /** The chain, leaf first (PEM). */
  readonly pem: string;
  readonly serial: string;
  readonly issuer: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** When to renew: a third of the lifetime before notAfter. */
  readonly renewAt: number;
}

/** The record id of a set of names. */
export const certificateName = (domains: readonly string[]): string => domains.join(',');

/** The secret id under which a certificate's private key is sealed. */
export const certificateKeyId = (name: string): string => `tls-cert-key:${name}`;
