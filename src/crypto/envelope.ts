import { randomBytes } from 'node:crypto';
import type { SealedSecret } from '../domain/index.js';
import { KEY_BYTES, open, seal } from './aead.js';
import type { MasterKeyring } from './keyring.js';

/**
 * Envelope encryption: every secret gets its own random data key; the data key is wrapped
 * by the newest master key. Both layers carry the record's context as associated data, so
 * a blob copied onto another record — or a wrapped key onto another blob — fails to open.
 */
export function sealSecret(keyring: MasterKeyring, plaintext: Buffer, context: string): SealedSecret {
  const dataKey = randomBytes(KEY_BYTES);
  try {
    const version = keyring.current;
    return {
      masterVersion: version,
      wrappedKey: seal(keyring.key(version), dataKey, wrapContext(context, version)),
      ciphertext: seal(dataKey, plaintext, Buffer.from(context)),
    };
  } finally {
    dataKey.fill(0);
  }
}

export function openSecret(keyring: MasterKeyring, sealed: SealedSecret, context: string): Buffer {
  const dataKey = unwrap(keyring, sealed, context);
  try {
    return open(dataKey, sealed.ciphertext, Buffer.from(context));
  } finally {
    dataKey.fill(0);
  }
}

/** Re-wraps the data key under the newest master key; the secret's ciphertext is untouched. */
export function rewrapSecret(keyring: MasterKeyring, sealed: SealedSecret, context: string): SealedSecret {
  const dataKey = unwrap(keyring, sealed, context);
  try {
    const version = keyring.current;
    return {
      masterVersion: version,
      wrappedKey: seal(keyring.key(version), dataKey, wrapContext(context, version)),
      ciphertext: sealed.ciphertext,
    };
  } finally {
    dataKey.fill(0);
  }
}

function unwrap(keyring: MasterKeyring, sealed: SealedSecret, context: string): Buffer {
  const version = sealed.masterVersion;
  return open(keyring.key(version), sealed.wrappedKey, wrapContext(context, version));
}

function wrapContext(context: string, version: number): Buffer {
  return Buffer.from(`${context}|master:v${version}`);
}
