import { SoakpError } from '../shared/errors.js';

// Deliberately plain: one @, a dotted domain, no spaces or control characters, <= 254 chars
// (RFC 5321 §4.5.3.1.3). Full RFC 5322 syntax admits forms no operator means to type.
const EMAIL = /^[^\s@\p{Cc}]{1,64}@[^\s@\p{Cc}]+\.[^\s@\p{Cc}.]{2,}$/u;

/** Lower-cases and trims an email, refusing anything that is not plainly one. */
export function normaliseEmail(input: string): string {
  const email = input.trim().toLowerCase();
  if (email.length > 254 || !EMAIL.test(email) || email.includes('..')) {
    throw new SoakpError('invalid_email', `"${input.slice(0, 80)}" is not a valid email address.`);
  }
  return email;
}

/** An upstream key as typed: trimmed; empty, oversized or multi-line keys are refused. */
export function validateUpstreamKey(input: string): string {
  const key = input.trim();
  if (key.length === 0) throw new SoakpError('invalid_key', 'The upstream key is empty.');
  if (key.length > 1024) {
    throw new SoakpError('invalid_key', `The upstream key is ${key.length} characters; at most 1024 are accepted.`);
  }
  if (!/^[\x21-\x7e]+$/.test(key)) {
    throw new SoakpError('invalid_key', 'The upstream key contains spaces, control or non-ASCII characters.');
  }
  return key;
}
