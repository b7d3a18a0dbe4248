import { describe, expect, it } from 'vitest';
import { SoakpError } from '../shared/errors.js';
import { emailKey, identityEmail, normaliseEmail, validateUpstreamKey } from './email.js';

function errorOf(fn: () => unknown): SoakpError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SoakpError);
    return err as SoakpError;
  }
  throw new Error('expected a SoakpError, but nothing was thrown');
}

describe('normaliseEmail', () => {
  it.each([
    ['alice@example.com', 'alice@example.com'],
    ['Alice.Smith@Example.COM', 'alice.smith@example.com'],
    ['  BOB+tag@mail.example.org\t', 'bob+tag@mail.example.org'],
    ['o\'neil@example.co.uk', 'o\'neil@example.co.uk'],
  ])('accepts %j as %j', (input, expected) => {
    expect(normaliseEmail(input)).toBe(expected);
  });

  it('accepts exactly 254 characters and refuses 255', () => {
    const at254 = `${'a'.repeat(64)}@${'b'.repeat(185)}.com`;
    expect(at254).toHaveLength(254);
    expect(normaliseEmail(at254)).toBe(at254);
    const at255 = `${'a'.repeat(64)}@${'b'.repeat(186)}.com`;
    expect(errorOf(() => normaliseEmail(at255)).code).toBe('invalid_email');
  });

  it.each([
    ['no @', 'alice.example.com'],
    ['two @', 'alice@bob@example.com'],
    ['empty local part', '@example.com'],
    ['empty domain', 'alice@'],
    ['domain without a dot', 'alice@localhost'],
    ['space in local part', 'ali ce@example.com'],
    ['space in domain', 'alice@exa mple.com'],
    ['tab inside', 'ali\tce@example.com'],
    ['newline inside', 'alice@example.com\nbcc@evil.example'],
    ['NUL', 'alice\u0000@example.com'],
    ['DEL', 'alice\u007f@example.com'],
    ['C1 control', 'alice\u0085@example.com'],
    ['consecutive dots in local part', 'alice..smith@example.com'],
    ['consecutive dots in domain', 'alice@example..com'],
    ['local part over 64', `${'a'.repeat(65)}@example.com`],
    ['empty', ''],
    ['whitespace only', '   '],
    ['one-letter TLD', 'alice@example.c'],
  ])('refuses %s', (_what, input) => {
    const err = errorOf(() => normaliseEmail(input));
    expect(err.code).toBe('invalid_email');
  });
});

describe('email addresses and Unicode', () => {
  const KELVIN = '\u212A';

  it('lower-cases A–Z only: the Kelvin sign is not folded onto "k"', () => {
    expect(emailKey(`${KELVIN}ate@Example.com`)).toBe(`${KELVIN}ate@example.com`);
    expect(emailKey('\u00C9lodie@Example.FR')).toBe('\u00C9lodie@example.fr');
  });

  it.each([
    ['the Kelvin sign', `${KELVIN}ate@example.com`],
    ['a fullwidth letter', '\uFF45ve@example.com'],
    ['a fullwidth capital', '\uFF25VE@example.com'],
    ['a ligature', 'o\uFB03ce@example.com'],
    ['a decomposed accent', 'e\u0301lodie@example.fr'],
  ])('refuses, for new accounts and forwarded identities alike, an address with %s', (_what, input) => {
    expect(errorOf(() => normaliseEmail(input)).message).toMatch(/NFKC/);
    expect(errorOf(() => identityEmail(input)).code).toBe('invalid_email');
    expect(() => emailKey(input)).not.toThrow(); // still looked up, so older accounts can be managed
  });

  it('keeps other non-ASCII addresses, refusing upper case outside A–Z for new accounts only', () => {
    expect(normaliseEmail('\u00E9lodie@exemple.fr')).toBe('\u00E9lodie@exemple.fr');
    expect(errorOf(() => normaliseEmail('\u00C9lodie@exemple.fr')).message).toMatch(/lower case/);
    expect(identityEmail('\u00C9lodie@exemple.fr')).toBe('\u00C9lodie@exemple.fr');
  });
});

describe('validateUpstreamKey', () => {
  it('accepts and trims a key', () => {
    expect(validateUpstreamKey('sk-proj-abc123')).toBe('sk-proj-abc123');
    expect(validateUpstreamKey('  sk-abc\n')).toBe('sk-abc');
    expect(validateUpstreamKey('\tsk-abc \r\n')).toBe('sk-abc');
  });

  it('accepts 1024 characters and refuses 1025', () => {
    const k1024 = `sk-${'x'.repeat(1021)}`;
    expect(validateUpstreamKey(k1024)).toBe(k1024);
    expect(validateUpstreamKey(` ${k1024} `)).toBe(k1024);
    expect(errorOf(() => validateUpstreamKey(`${k1024}y`)).code).toBe('invalid_key');
  });

  it.each([
    ['empty', ''],
    ['whitespace only', ' \t\r\n '],
    ['newline inside', 'sk-abc\ndef'],
    ['CR inside', 'sk-abc\rdef'],
    ['space inside', 'sk-abc def'],
    ['NUL inside', 'sk-abc\u0000def'],
    ['DEL inside', 'sk-abc\u007fdef'],
    ['non-ASCII letter', 'sk-abcdéf'],
    ['non-breaking space', 'sk-abc\u00a0def'],
    ['emoji', 'sk-abc😀'],
  ])('refuses %s', (_what, input) => {
    expect(errorOf(() => validateUpstreamKey(input)).code).toBe('invalid_key');
  });

  it('never repeats the key in its error message', () => {
    const canary = 'sk-CANARY0123456789abcdef';
    for (const bad of [`${canary}\nx`, `${canary} x`, `${canary}é`, canary + 'z'.repeat(1024)]) {
      const err = errorOf(() => validateUpstreamKey(bad));
      expect(err.message).not.toContain('CANARY');
    }
  });
});
