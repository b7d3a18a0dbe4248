import { X509Certificate } from 'node:crypto';
import { SoakpError } from '../../shared/index.js';
import type { DnsProvider } from './dns/provider.js';
import type { PropagationOptions } from './dns/propagation.js';
import type { Http01Solver } from './http01.js';

export type AcmeChallenge = 'http-01' | 'dns-01';

export interface ObtainOptions {
  /** The ACME directory, e.g. Let's Encrypt's `https://acme-v02.api.letsencrypt.org/directory`. */
  readonly directoryUrl: string;
  /** PEM of a CA to trust for the directory's HTTPS (a private ACME server such as Pebble). */
  readonly caPem?: string;
  /** The account's contact address. */
  readonly email?: string;
  /** The account key (PEM). Absent: one is made and handed back in the result for the caller to store. */
  readonly accountKeyPem?: string;
  /** External Account Binding (RFC 8555 §7.3.4), for CAs that require it (ZeroSSL, Google, step-ca). */
  readonly externalAccountBinding?: { readonly kid: string; readonly hmacKey: string };
  /** The names of the certificate: the first is its subject. `*.example.com` needs dns-01. */
  readonly domains: readonly string[];
  readonly challenge: AcmeChallenge;
  /** Where http-01 key authorizations are served from (the plain-HTTP listener mounts its handler). */
  readonly http01?: Http01Solver;
  /** Who publishes dns-01 TXT records. */
  readonly dns?: DnsProvider;
  /** How to wait for a dns-01 record to be visible before asking the CA to look. */
  readonly propagation?: PropagationOptions;
  /** How often to ask about a pending authorization or order: acme-client's backoff, 5 s to 30 s by default. */
  readonly poll?: { readonly minMs: number; readonly maxMs: number };
}

// RFC 1035 §2.3.1 labels (letters, digits, hyphens; 63 bytes), at least two labels; an optional `*.` first.
const LABEL = '(?!-)[a-z0-9-]{1,63}(?<!-)';
const NAME = new RegExp(`^(\\*\\.)?${LABEL}(\\.${LABEL})+$`);

/** Every problem with `options` at once, before any network call; SoakpError('invalid_config'). */
export function validateObtainOptions(options: ObtainOptions): void {
  const problems: string[] = [];
  let url: URL | undefined;
  try {
    url = new URL(options.directoryUrl);
  } catch {
    problems.push(`directory URL ${JSON.stringify(options.directoryUrl)} is not a URL`);
  }
  // RFC 8555 §6.1: ACME runs over HTTPS only.
  if (url !== undefined && url.protocol !== 'https:') problems.push('the ACME directory URL must be https');
  if (options.domains.length === 0) problems.push('no domain names to certify');
  for (const name of options.domains) {
    if (!NAME.test(name) || name.length > 253) problems.push(`${JSON.stringify(name)} is not a DNS name`);
  }
  const wildcards = options.domains.filter((name) => name.startsWith('*.'));
  if (options.challenge === 'http-01' && wildcards.length > 0) {
    problems.push(`${wildcards.join(', ')}: a wildcard name can only be validated with dns-01, not http-01`);
  }
  if (options.challenge !== 'http-01' && options.challenge !== 'dns-01') {
    problems.push(`unknown ACME challenge ${JSON.stringify(options.challenge)}: use http-01 or dns-01`);
  }
  if (options.challenge === 'http-01' && options.http01 === undefined) problems.push('http-01 needs the HTTP-01 solver');
  if (options.challenge === 'dns-01' && options.dns === undefined) problems.push('dns-01 needs a DNS provider');
  const eab = options.externalAccountBinding;
  if (eab !== undefined && (eab.kid === '' || eab.hmacKey === '')) problems.push('External Account Binding needs both a kid and an HMAC key');
  if (options.caPem !== undefined) {
    try {
      new X509Certificate(options.caPem);
    } catch {
      problems.push('the ACME CA file is not a PEM certificate');
    }
  }
  if (problems.length > 0) throw new SoakpError('invalid_config', `ACME: ${problems.join('; ')}`);
}
