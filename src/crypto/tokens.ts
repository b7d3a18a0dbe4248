import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const TOKEN_PREFIX = 'sk-soakp-';
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BODY_CHARS = 44; // 44 × log2(62) ≈ 262 bits of randomness
const CHECK_CHARS = 6; // CRC-32 in base62, as GitHub's tokens do, so scanners can verify offline
const TOKEN_LENGTH = TOKEN_PREFIX.length + BODY_CHARS + CHECK_CHARS;

/** A new personal token: `sk-soakp-<44 random base62><6 checksum>`. */
export function mintToken(): string {
  let body = '';
  for (let i = 0; i < BODY_CHARS; i++) body += ALPHABET[randomInt(ALPHABET.length)];
  return `${TOKEN_PREFIX}${body}${checksum(body)}`;
}

/** True when the text has the token's shape and its checksum holds: a cheap filter before any lookup. */
export function isWellFormedToken(text: string): boolean {
  if (text.length !== TOKEN_LENGTH || !text.startsWith(TOKEN_PREFIX)) return false;
  const body = text.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + BODY_CHARS);
  if (!/^[0-9A-Za-z]+$/.test(body)) return false;
  return checksum(body) === text.slice(TOKEN_PREFIX.length + BODY_CHARS);
}

/** What lists show: the prefix and four characters, about 24 of the 262 bits. */
export function displayPrefix(token: string): string {
  return `${token.slice(0, TOKEN_PREFIX.length + 4)}…`;
}

/** Tokens are stored only as this keyed hash (HMAC-SHA-256); the key never leaves the vault. */
export function hashToken(hashKey: Buffer, token: string): Buffer {
  return createHmac('sha256', hashKey).update(token).digest();
}

/** Constant-time: both sides derive from a secret. */
export function sameHash(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function checksum(body: string): string {
  let n = crc32(body);
  let out = '';
  for (let i = 0; i < CHECK_CHARS; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}
