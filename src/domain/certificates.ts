/** A certificate soakp obtains and renews itself (ACME), as the store keeps it. Its private key is sealed apart, among the secrets. */
export interface CertificateRecord {
  /** The names it is for, joined by commas: one record per set of names. */
  readonly name: string;
  readonly domains: readonly string[];
  /** Absent until one was obtained. */
  readonly issued?: IssuedCertificate | undefined;
  /** The last failure, until a renewal succeeds; `failures` counts them since the last success, across instances. */
  readonly lastError?: { readonly message: string; readonly at: number; readonly retryAt: number; readonly failures: number } | undefined;
  /** Set by `soakp tls renew`: the server holding the lease renews now. */
  readonly renewRequestedAt?: number | undefined;
  readonly updatedAt: number;
}

export interface IssuedCertificate {
  /** The chain, leaf first (PEM). */
  readonly pem: string;
  readonly serial: string;
  readonly issuer: string;
  /** The ACME directory it came from: a certificate from another CA (staging) is not served. */
  readonly directory: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** When to renew: a third of the lifetime before notAfter. */
  readonly renewAt: number;
}

/**
 * The names as one certificate carries them: lower-case, each once, the first (its subject)
 * first and the rest sorted, so that the same set given in another order is the same record.
 */
export function normalDomains(domains: readonly string[]): string[] {
  const [first, ...rest] = [...new Set(domains.map((d) => d.trim().toLowerCase()))];
  return first === undefined ? [] : [first, ...rest.sort()];
}

/** The record id of a set of names (normalised). */
export const certificateName = (domains: readonly string[]): string => normalDomains(domains).join(',');

/** The secret id under which a certificate's private key is sealed. */
export const certificateKeyId = (name: string): string => `tls-cert-key:${name}`;
