import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Logger, SoakpError, writeFileAtomic } from '../shared/index.js';
import type { Store } from '../store/index.js';
import type { Vault } from '../vault/index.js';
import { checkPair } from './pair.js';
import { type CertificatePair, type CertificateSource, changeSignal } from './source.js';
import { issueCertificate } from './x509.js';

/** The id of the sealed CA (certificate and private key) among the vault's internal secrets. */
const CA_SECRET = 'tls-local-ca';
const DAY = 86_400_000;
const CA_YEARS = 10;
/** A leaf lives 30 days and is renewed 10 days before it expires (or at the next start). */
const LEAF_DAYS = 30;
const RENEW_BEFORE_DAYS = 10;
/** setTimeout's longest delay. */
const MAX_DELAY = 2 ** 31 - 1;

export interface LocalCaDeps {
  readonly store: { readonly secrets: Omit<Store['secrets'], 'put'> };
  readonly vault: Pick<Vault, 'sealInternal' | 'openInternal'>;
  readonly dataDir: string;
  readonly logger: Logger;
}

export interface LocalCa {
  readonly cert: string;
  readonly name: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** The names a local leaf is for when none are given. */
export function defaultTlsNames(): string[] {
  return [...new Set(['localhost', '127.0.0.1', '::1', hostname()])];
}

/**
 * The local CA, created on first use: certificate and private key sealed together by the vault
 * (first writer wins, so two processes starting at once end with one CA). The certificate alone
 * is also written to `<dataDir>/local-ca.pem` for clients to trust; the key is never on disk in plain text.
 */
export async function loadOrCreateLocalCa(deps: LocalCaDeps): Promise<LocalCa> {
  let sealed = await deps.store.secrets.get(CA_SECRET);
  if (!sealed) {
    const created = createCa();
    await deps.store.secrets.insert(CA_SECRET, deps.vault.sealInternal(CA_SECRET, Buffer.from(JSON.stringify(created), 'utf8')));
    sealed = await deps.store.secrets.get(CA_SECRET);
    if (!sealed) throw new SoakpError('store_unavailable', 'The local CA could not be stored.');
  }
  const { cert, key, name } = JSON.parse(deps.vault.openInternal(CA_SECRET, sealed).reveal().toString('utf8')) as { cert: string; key: string; name: string };
  const privateKey = createPrivateKey(key);
  const file = join(deps.dataDir, 'local-ca.pem');
  mkdirSync(deps.dataDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(file, cert);
  // The name as it was written: a leaf's issuer must be the CA's subject byte for byte.
  return { cert, name, privateKey, publicKey: createPublicKey(privateKey) };
}

function createCa(): { cert: string; key: string; name: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = new Date();
  const name = `soakp local CA (${hostname()}, ${now.toISOString().slice(0, 10)})`;
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(now.getUTCFullYear() + CA_YEARS);
  const cert = issueCertificate({ subject: name, publicKey, issuer: { name, privateKey, publicKey }, notBefore: new Date(now.getTime() - DAY), notAfter, ca: true });
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, name };
}

/** A fresh leaf for `names`, signed by the local CA; its key lives in memory only. */
export function issueLeaf(ca: LocalCa, names: readonly string[], now = new Date()): CertificatePair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cert = issueCertificate({
    subject: names[0] ?? 'localhost', publicKey, names,
    issuer: { name: ca.name, privateKey: ca.privateKey, publicKey: ca.publicKey },
    // An hour back: clients whose clock is a little behind accept it too.
    notBefore: new Date(now.getTime() - 3_600_000), notAfter: new Date(now.getTime() + LEAF_DAYS * DAY),
  });
  return checkPair(cert, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, { cert: 'the local leaf', key: 'its key' });
}

/** Certificates from the local CA for `names`, renewed before they expire. */
export async function localCaSource(names: readonly string[], deps: LocalCaDeps): Promise<CertificateSource> {
  const ca = await loadOrCreateLocalCa(deps);
  const wanted = names.length > 0 ? names : defaultTlsNames();
  let pair = issueLeaf(ca, wanted);
  const signal = changeSignal();
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    const due = pair.notAfter.getTime() - RENEW_BEFORE_DAYS * DAY - Date.now();
    timer = setTimeout(() => (due > MAX_DELAY ? schedule() : renew()), Math.max(0, Math.min(due, MAX_DELAY)));
    timer.unref();
  };
  const renew = (): void => {
    pair = issueLeaf(ca, wanted);
    deps.logger.info({ serial: pair.serial, notAfter: pair.notAfter.toISOString() }, 'Local TLS certificate renewed');
    signal.emit(pair);
    schedule();
  };
  schedule();
  deps.logger.info({ names: wanted, serial: pair.serial, ca: join(deps.dataDir, 'local-ca.pem') }, 'Serving a certificate from the local CA; trust the CA with `soakp tls ca` (docs/tls.md)');
  return { current: () => pair, onChange: signal.listen, close: () => clearTimeout(timer) };
}
