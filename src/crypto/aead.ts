import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SoakpError } from '../shared/index.js';

const NONCE_BYTES = 12; // 96-bit nonce, the size GCM is specified for (NIST SP 800-38D §5.2.1.1)
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

/**
 * AES-256-GCM with a fresh random nonce for every call. Output: nonce ‖ ciphertext ‖ tag.
 * `aad` binds the ciphertext to its context: opening it under other associated data fails.
 */
export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new Error('AES-256-GCM needs a 32-byte key');
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** Opens what `seal` made. Every failure — tamper, wrong key, wrong context — is one generic error. */
export function open(key: Buffer, blob: Buffer, aad: Buffer): Buffer {
  if (blob.length < NONCE_BYTES + TAG_BYTES) throw decryptFailed();
  try {
    const nonce = blob.subarray(0, NONCE_BYTES);
    const tag = blob.subarray(blob.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(blob.subarray(NONCE_BYTES, blob.length - TAG_BYTES)), decipher.final()]);
  } catch (cause) {
    throw decryptFailed(cause);
  }
}

/** The nonce of a sealed blob, for tests that check nonces never repeat. */
export function nonceOf(blob: Buffer): Buffer {
  return blob.subarray(0, NONCE_BYTES);
}

function decryptFailed(cause?: unknown): SoakpError {
  return new SoakpError('decrypt_failed', 'A stored secret failed authentication and was not decrypted.', { cause });
}
