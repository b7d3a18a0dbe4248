import { hkdfSync, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SoakpError } from '../shared/errors.js';
import { MasterKeyring } from './keyring.js';

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

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const k5 = randomBytes(32);

describe('MasterKeyring', () => {
  it('knows its versions; the newest is current', () => {
    const ring = new MasterKeyring(new Map([[5, k5], [1, k1], [2, k2]]));
    expect(ring.current).toBe(5);
    expect(ring.versions).toEqual([1, 2, 5]);
    expect(ring.has(1)).toBe(true);
    expect(ring.has(3)).toBe(false);
    expect(ring.key(1).equals(k1)).toBe(true);
    expect(ring.key(2).equals(k2)).toBe(true);
    expect(ring.key(5).equals(k5)).toBe(true);
  });

  it('copies the keys it is given', () => {
    const original = Buffer.from(k1);
    const ring = new MasterKeyring(new Map([[1, original]]));
    original.fill(0);
    expect(ring.key(1).equals(k1)).toBe(true);
  });

  it('refuses an empty keyring with master_key_missing', () => {
    expectCode(() => new MasterKeyring(new Map()), 'master_key_missing');
  });

  it('refuses versions that are not positive integers', () => {
    for (const v of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      const err = expectCode(() => new MasterKeyring(new Map([[v, k1]])), 'invalid_config');
      expect(err.message).toMatch(/positive integer/);
    }
  });

  it('refuses keys that are not 32 bytes, without printing them', () => {
    for (const len of [0, 16, 31, 33, 64]) {
      const bad = randomBytes(len);
      const err = expectCode(() => new MasterKeyring(new Map([[1, bad]])), 'invalid_config');
      expect(err.message).toContain(`${len} bytes`);
      if (len > 0) {
        expect(err.message).not.toContain(bad.toString('hex'));
        expect(err.message).not.toContain(bad.toString('base64'));
      }
    }
  });

  it('key() of an absent version fails with master_key_missing naming the version', () => {
    const ring = new MasterKeyring(new Map([[1, k1]]));
    const err = expectCode(() => ring.key(2), 'master_key_missing');
    expect(err.message).toContain('version 2');
    expectCode(() => ring.derive(2, 'x'), 'master_key_missing');
    expectCode(() => ring.checkValue(2), 'master_key_missing');
  });

  it('derive() is HKDF-SHA-256 with a purpose label, distinct per purpose and per version', () => {
    const ring = new MasterKeyring(new Map([[1, k1], [2, k2]]));
    const a = ring.derive(1, 'token-hash');
    expect(a.length).toBe(32);
    const expected = Buffer.from(hkdfSync('sha256', k1, Buffer.alloc(0), 'soakp/token-hash', 32));
    expect(a.equals(expected)).toBe(true);
    expect(ring.derive(1, 'token-hash').equals(a)).toBe(true);
    expect(ring.derive(1, 'other').equals(a)).toBe(false);
    expect(ring.derive(2, 'token-hash').equals(a)).toBe(false);
    expect(a.equals(k1)).toBe(false);
  });

  it('does not show its keys through inspect, JSON or string conversion', () => {
    const ring = new MasterKeyring(new Map([[1, k1], [2, k2]]));
    const texts = [inspect(ring, { depth: 10, showHidden: true }), JSON.stringify(ring), String(ring), `${ring}`];
    for (const text of texts) {
      for (const k of [k1, k2]) {
        expect(text).not.toContain(k.toString('hex'));
        expect(text).not.toContain(k.toString('base64'));
      }
    }
  });
});

describe('checkValue / matches', () => {
  const ring = new MasterKeyring(new Map([[1, k1], [2, k2]]));

  it('is stable, base64url, distinct per key, and reveals no key material', () => {
    const cv = ring.checkValue(1);
    expect(cv).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes of HMAC-SHA-256, unpadded base64url
    expect(new MasterKeyring(new Map([[1, Buffer.from(k1)]])).checkValue(1)).toBe(cv);
    expect(ring.checkValue(2)).not.toBe(cv);
    expect(new MasterKeyring(new Map([[1, k2]])).checkValue(1)).toBe(ring.checkValue(2)); // depends on the key, not the version
    for (const enc of ['hex', 'base64', 'base64url'] as const) expect(cv).not.toContain(k1.toString(enc).slice(0, 16));
    expect(Buffer.from(cv, 'base64url').equals(ring.derive(1, 'key-check'))).toBe(false);
  });

  it('matches its own check value and no other', () => {
    expect(ring.matches(1, ring.checkValue(1))).toBe(true);
    expect(ring.matches(2, ring.checkValue(2))).toBe(true);
    expect(ring.matches(1, ring.checkValue(2))).toBe(false);
    expect(ring.matches(2, ring.checkValue(1))).toBe(false);
    const other = new MasterKeyring(new Map([[1, randomBytes(32)]]));
    expect(ring.matches(1, other.checkValue(1))).toBe(false);
    expect(other.matches(1, ring.checkValue(1))).toBe(false);
  });

  it('returns false (does not throw) for check values of another length or garbage', () => {
    const cv = ring.checkValue(1);
    expect(ring.matches(1, '')).toBe(false);
    expect(ring.matches(1, cv.slice(0, -1))).toBe(false);
    expect(ring.matches(1, `${cv}A`)).toBe(false);
    expect(ring.matches(1, 'x'.repeat(10_000))).toBe(false);
    const oneOff = (cv[0] === 'A' ? 'B' : 'A') + cv.slice(1);
    expect(ring.matches(1, oneOff)).toBe(false);
  });
});
