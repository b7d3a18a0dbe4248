import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SealedSecret } from '../domain/types.js';
import { SoakpError } from '../shared/errors.js';
import { KEY_BYTES, nonceOf, open, seal } from './aead.js';
import { openSecret, rewrapSecret, sealSecret } from './envelope.js';
import { MasterKeyring } from './keyring.js';

function ring(entries: Array<[number, Buffer]>): MasterKeyring {
  return new MasterKeyring(new Map(entries));
}

function expectCode(fn: () => unknown, code: string): SoakpError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SoakpError);
  expect((caught as SoakpError).code).toBe(code);
  return caught as SoakpError;
}

const k1 = randomBytes(KEY_BYTES);
const k2 = randomBytes(KEY_BYTES);
const k3 = randomBytes(KEY_BYTES);
const CTX_A = 'upstream-key|key_A|usr_A|openai';
const CTX_B = 'upstream-key|key_B|usr_B|openai';

describe('sealSecret / openSecret', () => {
  it('round-trips and records the newest master version', () => {
    const keyring = ring([[1, k1], [3, k3], [2, k2]]);
    const plain = Buffer.from('sk-live-upstream-key');
    const sealed = sealSecret(keyring, plain, CTX_A);
    expect(sealed.masterVersion).toBe(3);
    expect(openSecret(keyring, sealed, CTX_A).equals(plain)).toBe(true);
    // Only version 3 is needed to open it.
    expect(openSecret(ring([[3, k3]]), sealed, CTX_A).equals(plain)).toBe(true);
  });

  it('keeps the plaintext out of both blobs', () => {
    const canary = Buffer.from(`sk-canary-${randomBytes(16).toString('hex')}`);
    const sealed = sealSecret(ring([[1, k1]]), canary, CTX_A);
    expect(sealed.ciphertext.includes(canary)).toBe(false);
    expect(sealed.wrappedKey.includes(canary)).toBe(false);
    expect(sealed.wrappedKey.includes(k1)).toBe(false);
  });

  it('uses a fresh data key per secret: the same plaintext sealed twice differs in every part', () => {
    const keyring = ring([[1, k1]]);
    const plain = Buffer.from('identical plaintext');
    const a = sealSecret(keyring, plain, CTX_A);
    const b = sealSecret(keyring, plain, CTX_A);
    expect(a.wrappedKey.equals(b.wrappedKey)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(nonceOf(a.ciphertext).equals(nonceOf(b.ciphertext))).toBe(false);
    expect(nonceOf(a.wrappedKey).equals(nonceOf(b.wrappedKey))).toBe(false);
    // Unwrap by hand (the wrapping's associated data is the context plus the version): the data keys differ.
    const dataA = open(k1, a.wrappedKey, Buffer.from(`${CTX_A}|master:v1`));
    const dataB = open(k1, b.wrappedKey, Buffer.from(`${CTX_A}|master:v1`));
    expect(dataA.length).toBe(KEY_BYTES);
    expect(dataB.length).toBe(KEY_BYTES);
    expect(dataA.equals(dataB)).toBe(false);
    expect(dataA.equals(k1)).toBe(false);
    // And each ciphertext is under its own data key, not the master key.
    expect(open(dataA, a.ciphertext, Buffer.from(CTX_A)).equals(plain)).toBe(true);
    expect(() => open(k1, a.ciphertext, Buffer.from(CTX_A))).toThrow(SoakpError);
    expect(() => open(dataB, a.ciphertext, Buffer.from(CTX_A))).toThrow(SoakpError);
  });

  it("binds a secret to its context: opening with another record's context fails", () => {
    const keyring = ring([[1, k1]]);
    const sealed = sealSecret(keyring, Buffer.from('key of A'), CTX_A);
    expectCode(() => openSecret(keyring, sealed, CTX_B), 'decrypt_failed');
    expectCode(() => openSecret(keyring, sealed, ''), 'decrypt_failed');
    expectCode(() => openSecret(keyring, sealed, `${CTX_A} `), 'decrypt_failed');
    expect(openSecret(keyring, sealed, CTX_A).toString()).toBe('key of A');
  });

  it('fails when wrapped keys are swapped between two sealed secrets', () => {
    const keyring = ring([[1, k1]]);
    const a = sealSecret(keyring, Buffer.from('key of A'), CTX_A);
    const b = sealSecret(keyring, Buffer.from('key of B'), CTX_B);
    const aWithB: SealedSecret = { ...a, wrappedKey: b.wrappedKey };
    const bWithA: SealedSecret = { ...b, wrappedKey: a.wrappedKey };
    for (const ctx of [CTX_A, CTX_B]) {
      expectCode(() => openSecret(keyring, aWithB, ctx), 'decrypt_failed');
      expectCode(() => openSecret(keyring, bWithA, ctx), 'decrypt_failed');
    }
    // Same context for both: the wrapping alone still does not fit the other ciphertext.
    const c = sealSecret(keyring, Buffer.from('one'), CTX_A);
    const d = sealSecret(keyring, Buffer.from('two'), CTX_A);
    expectCode(() => openSecret(keyring, { ...c, wrappedKey: d.wrappedKey }, CTX_A), 'decrypt_failed');
    expectCode(() => openSecret(keyring, { ...c, ciphertext: d.ciphertext }, CTX_A), 'decrypt_failed');
  });

  it('fails when the recorded master version is changed', () => {
    const keyring = ring([[1, k1], [2, k2]]);
    const sealed = sealSecret(ring([[1, k1]]), Buffer.from('x'), CTX_A);
    expect(sealed.masterVersion).toBe(1);
    expectCode(() => openSecret(keyring, { ...sealed, masterVersion: 2 }, CTX_A), 'decrypt_failed');
    // Same key material under another version number: the version is in the associated data.
    expectCode(() => openSecret(ring([[2, k1]]), { ...sealed, masterVersion: 2 }, CTX_A), 'decrypt_failed');
  });

  it('fails with master_key_missing when the keyring lacks the version', () => {
    const sealed = sealSecret(ring([[1, k1]]), Buffer.from('x'), CTX_A);
    const err = expectCode(() => openSecret(ring([[2, k2]]), sealed, CTX_A), 'master_key_missing');
    expect(err.message).toContain('version 1');
  });

  it('fails with decrypt_failed under a different master key of the same version', () => {
    const sealed = sealSecret(ring([[1, k1]]), Buffer.from('x'), CTX_A);
    expectCode(() => openSecret(ring([[1, k2]]), sealed, CTX_A), 'decrypt_failed');
  });
});

describe('rewrapSecret', () => {
  it('changes masterVersion and wrappedKey, never the ciphertext, and the result opens', () => {
    const old = ring([[1, k1]]);
    const plain = Buffer.from('sk-rotate-me');
    const sealed = sealSecret(old, plain, CTX_A);
    const ciphertextBefore = Buffer.from(sealed.ciphertext);
    const wrappedBefore = Buffer.from(sealed.wrappedKey);

    const both = ring([[1, k1], [2, k2]]);
    const rewrapped = rewrapSecret(both, sealed, CTX_A);
    expect(rewrapped.masterVersion).toBe(2);
    expect(rewrapped.wrappedKey.equals(wrappedBefore)).toBe(false);
    expect(rewrapped.ciphertext.equals(ciphertextBefore)).toBe(true);
    // The input was not modified.
    expect(sealed.masterVersion).toBe(1);
    expect(sealed.wrappedKey.equals(wrappedBefore)).toBe(true);
    expect(sealed.ciphertext.equals(ciphertextBefore)).toBe(true);

    expect(openSecret(both, rewrapped, CTX_A).equals(plain)).toBe(true);
    expect(openSecret(ring([[2, k2]]), rewrapped, CTX_A).equals(plain)).toBe(true);
    // The old wrapping still opens under the old key (nothing is lost until the record is replaced).
    expect(openSecret(old, sealed, CTX_A).equals(plain)).toBe(true);
    // The new wrapping needs the new key.
    expectCode(() => openSecret(old, rewrapped, CTX_A), 'master_key_missing');
    expectCode(() => openSecret(ring([[2, k1]]), rewrapped, CTX_A), 'decrypt_failed');
  });

  it('keeps the same data key (the ciphertext still opens under the unwrapped key)', () => {
    const sealed = sealSecret(ring([[1, k1]]), Buffer.from('data'), CTX_A);
    const rewrapped = rewrapSecret(ring([[1, k1], [2, k2]]), sealed, CTX_A);
    const before = open(k1, sealed.wrappedKey, Buffer.from(`${CTX_A}|master:v1`));
    const after = open(k2, rewrapped.wrappedKey, Buffer.from(`${CTX_A}|master:v2`));
    expect(after.equals(before)).toBe(true);
  });

  it('refuses to rewrap under the wrong context or without the old version', () => {
    const sealed = sealSecret(ring([[1, k1]]), Buffer.from('data'), CTX_A);
    expectCode(() => rewrapSecret(ring([[1, k1], [2, k2]]), sealed, CTX_B), 'decrypt_failed');
    expectCode(() => rewrapSecret(ring([[2, k2]]), sealed, CTX_A), 'master_key_missing');
  });

  it('rewraps again to a later version and still opens', () => {
    const plain = Buffer.from('multi-hop');
    const s1 = sealSecret(ring([[1, k1]]), plain, CTX_A);
    const s2 = rewrapSecret(ring([[1, k1], [2, k2]]), s1, CTX_A);
    const s3 = rewrapSecret(ring([[2, k2], [3, k3]]), s2, CTX_A);
    expect(s3.masterVersion).toBe(3);
    expect(s3.ciphertext.equals(s1.ciphertext)).toBe(true);
    expect(openSecret(ring([[3, k3]]), s3, CTX_A).equals(plain)).toBe(true);
  });
});

describe('nonces never repeat', () => {
  it('1,000,000 encryptions give 1,000,000 distinct nonces', () => {
    const N = 1_000_000;
    const key = randomBytes(KEY_BYTES);
    const plain = Buffer.alloc(1);
    const aad = Buffer.alloc(0);
    const seen = new Set<string>();
    for (let i = 0; i < N; i++) {
      // latin1 maps each byte to one UTF-16 unit: a compact, lossless key for the Set.
      seen.add(nonceOf(seal(key, plain, aad)).toString('latin1'));
    }
    expect(seen.size).toBe(N);
  }, 120_000);

  it('the two layers of many sealed secrets never share a nonce', () => {
    const keyring = ring([[1, k1]]);
    const seen = new Set<string>();
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const s = sealSecret(keyring, Buffer.from('same'), CTX_A);
      seen.add(nonceOf(s.wrappedKey).toString('latin1'));
      seen.add(nonceOf(s.ciphertext).toString('latin1'));
    }
    expect(seen.size).toBe(2 * n);
  });
});
