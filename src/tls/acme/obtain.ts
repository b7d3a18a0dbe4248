import { X509Certificate } from 'node:crypto';
import acme from 'acme-client';
import { waitForTxt } from './dns/propagation.js';
import { orderFailure } from './errors.js';
import { type ObtainOptions, validateObtainOptions } from './options.js';
import { trustCaFor } from './trust.js';

// acme-client's axios sets no timeout: a stalled connection to the CA would hang an order for
// good. A minute per request, then acme-client's own retries apply.
acme.axios.defaults.timeout ||= 60_000;

export interface ObtainedCertificate {
  /** The leaf first, then the intermediates the CA sent. */
  readonly certPem: string;
  /** The certificate's private key (ECDSA P-256, PKCS#8 PEM): new at every order. */
  readonly keyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The leaf's serial number, hex. */
  readonly serial: string;
  /** The account key used: the caller's, or a new one (`accountKeyCreated`) for the caller to store sealed. */
  readonly accountKeyPem: string;
  readonly accountKeyCreated: boolean;
  /**
   * Clean-up steps that failed after the order (a TXT record left behind): worth a log line, not
   * a failure. A failed order's AcmeError carries them as `cleanupWarnings`.
   */
  readonly warnings: readonly string[];
}

/**
 * Orders a certificate for `options.domains` and waits for it. A renewal is another order with
 * the same account key. Bad options, and a DNS provider whose check() fails, are refused
 * before any order starts (SoakpError invalid_config); a failed order rejects with an
 * AcmeError. Every challenge published — an HTTP-01 token, a DNS-01 TXT record — is taken
 * away again, whether the order succeeded or not; a removal that fails is reported
 * (`warnings`, or the error's `cleanupWarnings`), never lost.
 */
export async function obtainCertificate(options: ObtainOptions): Promise<ObtainedCertificate> {
  validateObtainOptions(options);
  // Credentials that only a lookup finds (an instance role) are refused here, before any order.
  if (options.challenge === 'dns-01') await options.dns?.check?.();
  if (options.caPem !== undefined) trustCaFor(options.directoryUrl, options.caPem);
  const accountKeyCreated = options.accountKeyPem === undefined;
  const accountKeyPem = options.accountKeyPem ?? (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
  const client = new acme.Client({
    directoryUrl: options.directoryUrl,
    accountKey: accountKeyPem,
    ...(options.externalAccountBinding === undefined ? {} : { externalAccountBinding: { ...options.externalAccountBinding } }),
    ...(options.poll === undefined ? {} : { backoffMin: options.poll.minMs, backoffMax: options.poll.maxMs }),
  });
  const [commonName, ...rest] = options.domains;
  const certKey = await acme.crypto.createPrivateEcdsaKey('P-256');
  const [, csr] = await acme.crypto.createCsr({ commonName, altNames: [commonName ?? '', ...rest] }, certKey);
  const warnings: string[] = [];
  const { challengeCreateFn, challengeRemoveFn } = challengeFns(options, warnings);
  let chainPem: string;
  try {
    chainPem = await client.auto({
      csr,
      ...(options.email === undefined ? {} : { email: options.email }),
      termsOfServiceAgreed: true,
      challengePriority: [options.challenge],
      // acme-client's own check fetches http://<name>:80 or asks the system resolver; soakp serves
      // http-01 itself and waits for dns-01 propagation at the resolvers it is told (waitForTxt).
      skipChallengeVerification: true,
      challengeCreateFn,
      challengeRemoveFn,
    });
  } catch (err) {
    // acme-client has run every challengeRemoveFn by now: `warnings` holds all clean-up failures.
    throw orderFailure(err, options.domains, warnings);
  }
  const leaf = new X509Certificate(chainPem);
  return {
    certPem: chainPem,
    keyPem: certKey.toString(),
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    serial: leaf.serialNumber,
    accountKeyPem,
    accountKeyCreated,
    warnings,
  };
}

type ChallengeFn = Parameters<acme.Client['auto']>[0]['challengeCreateFn'];

/** Publish and take away one challenge of the chosen type; acme-client runs the second in a `finally`. */
function challengeFns(options: ObtainOptions, warnings: string[]): { challengeCreateFn: ChallengeFn; challengeRemoveFn: ChallengeFn } {
  if (options.challenge === 'http-01') {
    const solver = options.http01!;
    return {
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => solver.add(challenge.token, keyAuthorization),
      // acme-client swallows what this throws: keep it for the caller instead.
      challengeRemoveFn: async (_authz, challenge) => solver.remove(challenge.token).catch((err: unknown) => {
        warnings.push(`removing the HTTP-01 answer for token ${challenge.token} failed: ${(err as Error).message}`);
      }),
    };
  }
  const dns = options.dns!;
  // RFC 8555 §8.4: the record sits at _acme-challenge.<name>; for *.example.com the authorization's
  // identifier is example.com already. The value acme-client hands dns-01 is the digest to publish.
  const fqdn = (domain: string): string => `_acme-challenge.${domain}.`;
  return {
    challengeCreateFn: async (authz, _challenge, value) => {
      await dns.present(fqdn(authz.identifier.value), value);
      await waitForTxt(fqdn(authz.identifier.value), value, options.propagation);
    },
    challengeRemoveFn: async (authz, _challenge, value) => {
      // acme-client swallows what this throws: keep it for the caller instead.
      await dns.cleanup(fqdn(authz.identifier.value), value).catch((err: unknown) => {
        warnings.push(`${dns.name}: removing the TXT record of ${fqdn(authz.identifier.value)} failed: ${(err as Error).message}`);
      });
    },
  };
}
