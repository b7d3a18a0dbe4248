import { X509Certificate, createPrivateKey } from 'node:crypto';
import { SoakpError } from '../shared/index.js';
import type { CertificatePair } from './source.js';

/**
 * Checks that `cert` is a PEM certificate (chain, leaf first) and `key` its private key, and
 * returns the pair. Messages name the files (`where`), never their contents: a key never reaches a log.
 */
export function checkPair(cert: string, key: string, where: { cert: string; key: string }): CertificatePair {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new SoakpError('invalid_config', `${where.cert} does not hold a PEM certificate.`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new SoakpError('invalid_config', `${where.key} does not hold a PEM private key (an encrypted key is not supported).`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new SoakpError('invalid_config', `The private key in ${where.key} does not belong to the certificate in ${where.cert}.`);
  }
  const notAfter = new Date(leaf.validTo);
  return { cert, key, serial: leaf.serialNumber, notAfter };
}
