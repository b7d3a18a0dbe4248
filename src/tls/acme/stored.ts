import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import acme from 'acme-client';
import { type CertificateRecord, certificateKeyId, certificateName } from '../../domain/index.js';
import { SoakpError } from '../../shared/index.js';
import type { Store } from '../../store/index.js';
import type { Vault } from '../../vault/index.js';
import { checkPair } from '../pair.js';
import type { CertificatePair } from '../source.js';
import { issueCertificate } from '../x509.js';
import type { ObtainedCertificate } from './obtain.js';

export type AcmeStore = Pick<Store, 'certificates' | 'leases' | 'secrets' | 'transaction' | 'onChange'>;
export type SealingVault = Pick<Vault, 'sealInternal' | 'openInternal'>;

/** A certificate and the record it came from; `pair` absent when none was obtained from this directory or its key is missing. */
export interface Stored {
  readonly record: CertificateRecord | undefined;
  readonly pair: CertificatePair | undefined;
}

/** Where certificates come from: the directory, and the names asked for (normalised). */
export interface Wanted {
  readonly directory: string;
  readonly domains: readonly string[];
}

/** The stored certificate for the names, with its key opened; record and key read together. */
export async function loadStored(store: AcmeStore, vault: SealingVault, wanted: Wanted): Promise<Stored> {
  const name = certificateName(wanted.domains);
  const { record, sealed } = await store.transaction(async (tx) => ({ record: await tx.certificates.get(name), sealed: await tx.secrets.get(certificateKeyId(name)) }));
  // A certificate of another CA (staging, before the switch to production) is not served.
  if (record?.issued === undefined || record.issued.directory !== wanted.directory || sealed === undefined) return { record, pair: undefined };
  const key = vault.openInternal(certificateKeyId(name), sealed).reveal().toString('utf8');
  return { record, pair: checkPair(record.issued.pem, key, { cert: `the stored certificate for ${name}`, key: 'its stored key' }) };
}

/**
 * A still-valid certificate from the same CA for some of the names (before the list of names
 * changed): served while the new one is ordered, so adding a name does not take HTTPS down.
 */
export async function loadInterim(store: AcmeStore, vault: SealingVault, wanted: Wanted, now: number): Promise<CertificatePair | undefined> {
  const candidates = (await store.certificates.list())
    .filter((r) => r.issued !== undefined && r.issued.directory === wanted.directory && r.issued.notAfter > now && r.domains.some((d) => wanted.domains.includes(d)))
    .sort((a, b) => (b.issued?.notAfter ?? 0) - (a.issued?.notAfter ?? 0));
  for (const record of candidates) {
    const stored = await loadStored(store, vault, { directory: wanted.directory, domains: record.domains });
    if (stored.pair !== undefined) return stored.pair;
  }
  return undefined;
}

/** Stores a new certificate and its sealed key together; renewal is due when a third of its lifetime is left. */
export async function saveObtained(store: AcmeStore, vault: SealingVault, wanted: Wanted, got: ObtainedCertificate, now: number): Promise<CertificatePair> {
  const name = certificateName(wanted.domains);
  const pair = checkPair(got.certPem, got.keyPem, { cert: `the certificate for ${name}`, key: 'its key' });
  const notBefore = got.notBefore.getTime();
  const notAfter = got.notAfter.getTime();
  const issuer = new X509Certificate(got.certPem).issuer.replace(/\n/g, ', ');
  const renewAt = notAfter - Math.floor((notAfter - notBefore) / 3);
  const issued = { pem: got.certPem, serial: pair.serial, issuer, directory: wanted.directory, notBefore, notAfter, renewAt };
  await store.transaction(async (tx) => {
    await tx.secrets.put(certificateKeyId(name), vault.sealInternal(certificateKeyId(name), Buffer.from(got.keyPem, 'utf8')));
    await tx.certificates.saveIssued(name, wanted.domains, issued, now);
  });
  return pair;
}

/**
 * The ACME account key for a directory, sealed among the secrets: made once, first writer wins,
 * so instances sharing a store share one account (and its rate limits) with the CA.
 */
export async function accountKey(store: AcmeStore, vault: SealingVault, directoryUrl: string): Promise<string> {
  const id = `acme-account:${directoryUrl}`;
  let sealed = await store.secrets.get(id);
  if (sealed === undefined) {
    const made = await acme.crypto.createPrivateEcdsaKey('P-256');
    await store.secrets.insert(id, vault.sealInternal(id, made));
    sealed = await store.secrets.get(id);
  }
  if (sealed === undefined) throw new SoakpError('store_unavailable', 'The ACME account key could not be stored.');
  return vault.openInternal(id, sealed).reveal().toString('utf8');
}

/**
 * What HTTPS serves before a certificate was obtained: self-signed for the names, trusted by no
 * one, so a client fails its handshake rather than reaching the proxy (and /readyz says 503).
 */
export function placeholderPair(domains: readonly string[], now = new Date()): CertificatePair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = `soakp placeholder (no ACME certificate yet) ${domains[0] ?? ''}`.trim();
  const cert = issueCertificate({
    subject: name, publicKey, names: domains, issuer: { name, privateKey, publicKey },
    notBefore: new Date(now.getTime() - 3_600_000), notAfter: new Date(now.getTime() + 7 * 86_400_000),
  });
  return checkPair(cert, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { cert: 'the placeholder certificate', key: 'its key' });
}
