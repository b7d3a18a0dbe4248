import { createHmac, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { TOKEN_PREFIX, displayPrefix, hashToken, isWellFormedToken, mintToken, sameHash } from './tokens.js';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SHAPE = /^sk-soakp-[0-9A-Za-z]{44}[0-9A-Za-z]{6}$/;
const LENGTH = 'sk-soakp-'.length + 44 + 6;

/** The checksum as a scanner would compute it offline: CRC-32 of the body, 6 base62 digits, big-endian. */
function expectedChecksum(body: string): string {
  let n = BigInt(crc32(body));
  const digits: string[] = [];
  for (let i = 0; i < 6; i++) {
    digits.unshift(ALPHABET[Number(n % 62n)] as string);
    n /= 62n;
  }
  return digits.join('');
}

/** Replaces character i with another character from the alphabet. */
function withCharChanged(token: string, i: number, step = 1): string {
  const c = token[i] as string;
  const replacement = ALPHABET[(ALPHABET.indexOf(c) + step) % ALPHABET.length] as string;
  return token.slice(0, i) + replacement + token.slice(i + 1);
}

describe('mintToken', () => {
  it('has the format sk-soakp- + 44 base62 + 6 base62 checksum (CRC-32)', () => {
    expect(TOKEN_PREFIX).toBe('sk-soakp-');
    for (let i = 0; i < 200; i++) {
      const t = mintToken();
      expect(t).toMatch(SHAPE);
      expect(t.length).toBe(LENGTH);
      const body = t.slice(9, 53);
      expect(t.slice(53)).toBe(expectedChecksum(body));
    }
  });

  it('mints distinct tokens drawing on the whole alphabet', () => {
    const n = 10_000;
    const tokens = new Set<string>();
    const bodies = new Set<string>();
    const chars = new Set<string>();
    const firstChars = new Set<string>();
    for (let i = 0; i < n; i++) {
      const t = mintToken();
      tokens.add(t);
      const body = t.slice(9, 53);
      bodies.add(body);
      firstChars.add(body[0] as string);
      for (const c of body) chars.add(c);
    }
    expect(tokens.size).toBe(n);
    expect(bodies.size).toBe(n);
    // 440,000 random characters: every one of the 62 appears, and so does nearly every first character.
    expect(chars.size).toBe(62);
    expect(firstChars.size).toBeGreaterThan(55);
  });
});

describe('isWellFormedToken', () => {
  it('accepts minted tokens', () => {
    for (let i = 0; i < 500; i++) expect(isWellFormedToken(mintToken())).toBe(true);
  });

  it('rejects a token with any one character changed, in the body or the checksum', () => {
    for (let round = 0; round < 5; round++) {
      const t = mintToken();
      for (let i = TOKEN_PREFIX.length; i < t.length; i++) {
        for (const step of [1, 31, 61]) {
          const changed = withCharChanged(t, i, step);
          expect(changed).not.toBe(t);
          expect(isWellFormedToken(changed)).toBe(false);
        }
      }
    }
  });

  it('rejects two characters swapped', () => {
    const t = mintToken();
    let tested = 0;
    for (let i = TOKEN_PREFIX.length; i < t.length - 1; i++) {
      if (t[i] === t[i + 1]) continue;
      const swapped = t.slice(0, i) + t[i + 1] + t[i] + t.slice(i + 2);
      expect(isWellFormedToken(swapped)).toBe(false);
      tested += 1;
    }
    expect(tested).toBeGreaterThan(30);
  });

  it('rejects the wrong length', () => {
    const t = mintToken();
    expect(isWellFormedToken(t.slice(0, -1))).toBe(false);
    expect(isWellFormedToken(`${t}A`)).toBe(false);
    expect(isWellFormedToken(`A${t}`)).toBe(false);
    expect(isWellFormedToken(t.slice(0, 20))).toBe(false);
    expect(isWellFormedToken('')).toBe(false);
    expect(isWellFormedToken(TOKEN_PREFIX)).toBe(false);
    // A well-formed body and checksum of another length are still refused.
    const shortBody = 'A'.repeat(43);
    expect(isWellFormedToken(`${TOKEN_PREFIX}${shortBody}${expectedChecksum(shortBody)}`)).toBe(false);
  });

  it('rejects a wrong prefix, even with a valid body and checksum', () => {
    const t = mintToken();
    const rest = t.slice(TOKEN_PREFIX.length);
    for (const prefix of ['sk-soakq-', 'SK-SOAKP-', 'sk_soakp-', 'sk-soakp_', 'xx-soakp-', 'sk-proj--']) {
      expect(prefix.length).toBe(TOKEN_PREFIX.length);
      expect(isWellFormedToken(prefix + rest)).toBe(false);
    }
    expect(isWellFormedToken(`Bearer ${t}`)).toBe(false);
    expect(isWellFormedToken(` ${t}`)).toBe(false);
    expect(isWellFormedToken(`${t}\n`)).toBe(false);
  });

  it('rejects 10 KB strings', () => {
    const t = mintToken();
    expect(isWellFormedToken(t + 'A'.repeat(10 * 1024))).toBe(false);
    expect(isWellFormedToken(TOKEN_PREFIX + 'A'.repeat(10 * 1024))).toBe(false);
    expect(isWellFormedToken(t.repeat(Math.ceil((10 * 1024) / t.length)))).toBe(false);
    expect(isWellFormedToken('\u0000'.repeat(10 * 1024))).toBe(false);
  });

  it('rejects SQL-shaped strings, including ones of exactly the token length', () => {
    const payloads = [
      "' OR '1'='1",
      "' OR 1=1 --",
      "sk-soakp-' OR '1'='1' --",
      "'; DROP TABLE tokens; --",
      '" OR ""="',
      "sk-soakp-x' UNION SELECT hash FROM tokens --",
    ];
    for (const p of payloads) {
      expect(isWellFormedToken(p)).toBe(false);
      const padded = (TOKEN_PREFIX + p).padEnd(LENGTH, 'A').slice(0, LENGTH);
      expect(padded.length).toBe(LENGTH);
      expect(isWellFormedToken(padded)).toBe(false);
    }
  });

  it('rejects non-alphanumeric bodies of the right length even when the checksum matches their text', () => {
    for (const bad of ['-', '_', ' ', "'", '\u0000', 'é', '+', '/', '=']) {
      const body = `${bad}${'A'.repeat(43)}`;
      expect(body.length).toBe(44);
      const text = `${TOKEN_PREFIX}${body}${expectedChecksum(body)}`;
      expect(text.length).toBe(LENGTH);
      expect(isWellFormedToken(text)).toBe(false);
    }
    // The same construction with a valid body is accepted, so the refusal above is about the character.
    const good = 'B'.repeat(44);
    expect(isWellFormedToken(`${TOKEN_PREFIX}${good}${expectedChecksum(good)}`)).toBe(true);
  });
});

describe('displayPrefix', () => {
  it('reveals only the prefix and four characters', () => {
    for (let i = 0; i < 100; i++) {
      const t = mintToken();
      const shown = displayPrefix(t);
      expect(shown).toBe(`${t.slice(0, TOKEN_PREFIX.length + 4)}…`);
      expect(shown.startsWith(TOKEN_PREFIX)).toBe(true);
      // Exactly 4 characters of the secret part, then an ellipsis.
      expect(shown.slice(TOKEN_PREFIX.length)).toMatch(/^[0-9A-Za-z]{4}…$/);
      expect(shown).not.toContain(t.slice(0, TOKEN_PREFIX.length + 5));
      expect(shown).not.toContain(t.slice(TOKEN_PREFIX.length + 4, TOKEN_PREFIX.length + 8));
    }
  });
});

describe('hashToken / sameHash', () => {
  const key = randomBytes(32);

  it('is HMAC-SHA-256 of the whole token under the hash key', () => {
    for (let i = 0; i < 20; i++) {
      const t = mintToken();
      const expected = createHmac('sha256', key).update(t).digest();
      const actual = hashToken(key, t);
      expect(actual.length).toBe(32);
      expect(actual.equals(expected)).toBe(true);
    }
  });

  it('matches a known HMAC-SHA-256 test vector (RFC 4231, case 2)', () => {
    const h = hashToken(Buffer.from('Jefe'), 'what do ya want for nothing?');
    expect(h.toString('hex')).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('differs under another key and for another token, and never contains the token', () => {
    const t = mintToken();
    const other = Buffer.from(key);
    other[31] = (other[31] as number) ^ 1;
    expect(hashToken(key, t).equals(hashToken(other, t))).toBe(false);
    expect(hashToken(key, t).equals(hashToken(key, mintToken()))).toBe(false);
    expect(hashToken(key, t).equals(hashToken(key, withCharChanged(t, 20)))).toBe(false);
    expect(hashToken(key, t).toString('latin1')).not.toContain(t.slice(9, 20));
    // Deterministic: the same key and token always give the same hash (so lookups work).
    expect(hashToken(key, t).equals(hashToken(Buffer.from(key), `${t}`))).toBe(true);
  });

  it('sameHash compares byte for byte and tolerates different lengths', () => {
    const t = mintToken();
    const a = hashToken(key, t);
    expect(sameHash(a, Buffer.from(a))).toBe(true);
    expect(sameHash(a, hashToken(key, mintToken()))).toBe(false);
    const flipped = Buffer.from(a);
    flipped[31] = (flipped[31] as number) ^ 1;
    expect(sameHash(a, flipped)).toBe(false);
    expect(sameHash(a, a.subarray(0, 31))).toBe(false);
    expect(sameHash(a, Buffer.alloc(0))).toBe(false);
    expect(sameHash(Buffer.alloc(0), Buffer.alloc(0))).toBe(true);
  });
});
