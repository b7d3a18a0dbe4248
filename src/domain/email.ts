import { SoakpError } from '../shared/index.js';

// Deliberately plain: one @, a dotted domain, no spaces or control characters, <= 254 chars
// (RFC 5321 §4.5.3.1.3). Full RFC 5322 syntax admits forms no operator means to type.
const EMAIL = /^[^\s@\p{Cc}]{1,64}@[^\s@\p{Cc}]+\.[^\s@\p{Cc}.]{2,}$/u;

/**
 * Trims an email and lower-cases A–Z only, refusing anything that is not plainly one: the
 * form addresses are stored and looked up in. Unicode case mapping is not used, as it folds
 * other letters onto ASCII (the Kelvin sign becomes "k").
 */
export function emailKey(input: string): string {
  const email = input.trim().replace(/[A-Z]+/g, (ascii) => ascii.toLowerCase());
  if (email.length > 254 || !EMAIL.test(email) || email.includes('..')) {
    throw new SoakpError('invalid_email', `"${input.slice(0, 80)}" is not a valid email address.`);
  }
  return email;
}

/**
 * An address that arrives as someone's identity: as emailKey, refusing one that Unicode
 * compatibility normalisation (NFKC) would change — fullwidth letters, the Kelvin sign —
 * so that it can only ever match an account stored under exactly that address.
 */
export function identityEmail(input: string): string {
  const email = emailKey(input);
  if (email.normalize('NFKC') !== email) {
    throw new SoakpError('invalid_email', `"${input.slice(0, 80)}" contains characters that Unicode normalisation (NFKC) would change (fullwidth letters, the Kelvin sign); soakp accepts addresses only in their plain form.`);
  }
  return email;
}

/**
 * The address of a new account: as identityEmail, also refusing upper-case letters outside
 * A–Z, so that no two accounts differ only in the case of such a letter.
 */
export function normaliseEmail(input: string): string {
  const email = identityEmail(input);
  if (email.toLowerCase() !== email) {
    throw new SoakpError('invalid_email', `"${input.slice(0, 80)}" has upper-case letters outside A–Z; give the address in lower case.`);
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
