import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SoakpError } from '../shared/errors.js';
import { KEY_BYTES, nonceOf, open, seal } from './aead.js';

const NONCE = 12;
const TAG = 16;
const GENERIC = 'A stored secret failed authentication and was not decrypted.';

/** Runs fn, expects a SoakpError `decrypt_failed` with the one generic message, returns it. */
function expectDecryptFailed(fn: () => unknown): SoakpError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SoakpError);
  const err = caught as SoakpError;
  expect(err.code).toBe('decrypt_failed');
  expect(err.message).toBe(GENERIC);
  expect(err.status).toBe(500);
  return err;
}

describe('seal / open (AES-256-GCM)', () => {
  const key = randomBytes(KEY_BYTES);
  const aad = Buffer.from('upstream-key|key_1|usr_1|openai');

  it('round-trips plaintexts of several sizes, including empty', () => {
    for (const size of [0, 1, 15, 16, 17, 1000, 65_537]) {
      const plain = randomBytes(size);
      const blob = seal(key, plain, aad);
      expect(blob.length).toBe(NONCE + size + TAG);
      expect(open(key, blob, aad).equals(plain)).toBe(true);
    }
  });

  it('round-trips with empty associated data', () => {
    const plain = Buffer.from('hello');
    expect(open(key, seal(key, plain, Buffer.alloc(0)), Buffer.alloc(0)).toString()).toBe('hello');
  });

  it('does not contain the plaintext in readable form', () => {
    const canary = Buffer.from(`sk-canary-${randomBytes(16).toString('hex')}`);
    const blob = seal(key, canary, aad);
    expect(blob.includes(canary)).toBe(false);
    expect(blob.toString('latin1')).not.toContain(canary.toString());
  });

  it('uses a fresh nonce and gives a different blob each time for the same input', () => {
    const plain = Buffer.from('same plaintext');
    const a = seal(key, plain, aad);
    const b = seal(key, plain, aad);
    expect(nonceOf(a).length).toBe(NONCE);
    expect(nonceOf(a).equals(nonceOf(b))).toBe(false);
    expect(a.equals(b)).toBe(false);
  });

  it('nonceOf returns exactly the first 12 bytes of the blob', () => {
    const blob = seal(key, Buffer.from('x'), aad);
    expect(nonceOf(blob).equals(blob.subarray(0, NONCE))).toBe(true);
  });

  it('refuses a key that is not 32 bytes when sealing', () => {
    for (const len of [0, 16, 24, 31, 33]) {
      expect(() => seal(randomBytes(len), Buffer.from('x'), aad)).toThrow(/32-byte key/);
    }
  });

  it('fails with the generic error when any single byte is changed (nonce, ciphertext or tag)', () => {
    const plain = randomBytes(40);
    const blob = seal(key, plain, aad);
    expect(blob.length).toBe(NONCE + 40 + TAG);
    for (let i = 0; i < blob.length; i++) {
      for (const flip of [0x01, 0x80]) {
        const tampered = Buffer.from(blob);
        tampered[i] = (tampered[i] as number) ^ flip;
        expectDecryptFailed(() => open(key, tampered, aad));
      }
    }
    // The untouched blob still opens: the failures above came from the changes.
    expect(open(key, blob, aad).equals(plain)).toBe(true);
  });

  it('fails with the generic error under a wrong key, including one of the wrong length', () => {
    const blob = seal(key, Buffer.from('secret'), aad);
    const other = Buffer.from(key);
    other[0] = (other[0] as number) ^ 1;
    expectDecryptFailed(() => open(other, blob, aad));
    expectDecryptFailed(() => open(randomBytes(KEY_BYTES), blob, aad));
    expectDecryptFailed(() => open(key.subarray(0, 31), blob, aad));
    expectDecryptFailed(() => open(Buffer.alloc(0), blob, aad));
  });

  it('fails with the generic error under different associated data', () => {
    const blob = seal(key, Buffer.from('secret'), aad);
    expectDecryptFailed(() => open(key, blob, Buffer.from('upstream-key|key_1|usr_2|openai')));
    expectDecryptFailed(() => open(key, blob, Buffer.alloc(0)));
    expectDecryptFailed(() => open(key, blob, Buffer.concat([aad, Buffer.from('x')])));
    expectDecryptFailed(() => open(key, blob, aad.subarray(0, aad.length - 1)));
    // And the other way round: sealed without associated data, opened with some.
    const bare = seal(key, Buffer.from('secret'), Buffer.alloc(0));
    expectDecryptFailed(() => open(key, bare, aad));
  });

  it('fails with the generic error for truncated or extended blobs', () => {
    const blob = seal(key, randomBytes(32), aad);
    for (const len of [0, 1, NONCE, NONCE + TAG - 1, NONCE + TAG, blob.length - 1]) {
      expectDecryptFailed(() => open(key, blob.subarray(0, len), aad));
    }
    // Dropping bytes from the front shifts the nonce.
    expectDecryptFailed(() => open(key, blob.subarray(1), aad));
    expectDecryptFailed(() => open(key, Buffer.concat([blob, Buffer.from([0])]), aad));
  });

  it('gives one indistinguishable error for every kind of failure, revealing nothing', () => {
    const canary = `sk-canary-${randomBytes(8).toString('hex')}`;
    const blob = seal(key, Buffer.from(canary), aad);
    const tampered = Buffer.from(blob);
    tampered[NONCE] = (tampered[NONCE] as number) ^ 1;
    const errors = [
      expectDecryptFailed(() => open(key, tampered, aad)),
      expectDecryptFailed(() => open(randomBytes(KEY_BYTES), blob, aad)),
      expectDecryptFailed(() => open(key, blob, Buffer.from('other'))),
      expectDecryptFailed(() => open(key, blob.subarray(0, 5), aad)),
    ];
    for (const err of errors) {
      expect({ code: err.code, message: err.message, status: err.status, type: err.type }).toEqual({
        code: 'decrypt_failed',
        message: GENERIC,
        status: 500,
        type: 'server_error',
      });
      const text = `${inspect(err, { depth: 5 })}\n${err.stack ?? ''}\n${JSON.stringify(err)}`;
      expect(text).not.toContain(canary);
      expect(text).not.toContain(key.toString('hex'));
      expect(text).not.toContain(key.toString('base64'));
    }
  });
});
