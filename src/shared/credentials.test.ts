import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { SoakpError } from './errors.js';
import { credentialOf } from './credentials.js';

const TOKEN = 'sk-soakp-CANARYtoken0123456789abcdef';
const OTHER = 'sk-soakp-OTHERcanary9876543210fedcba';

function errorOf(headers: IncomingHttpHeaders): SoakpError {
  try {
    credentialOf(headers);
  } catch (err) {
    expect(err).toBeInstanceOf(SoakpError);
    return err as SoakpError;
  }
  throw new Error('expected a SoakpError, but a credential was returned');
}

/** Refused with `code`, and the message repeats none of the presented credentials. */
function expectRefused(headers: IncomingHttpHeaders, code: string): void {
  const err = errorOf(headers);
  expect(err.code).toBe(code);
  expect(err.status).toBe(401);
  expect(err.message).not.toContain('CANARY');
  expect(err.message).not.toContain(TOKEN);
  expect(err.message).not.toContain(OTHER);
}

describe('credentialOf', () => {
  it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])('reads Authorization: %s <token>', (scheme) => {
    expect(credentialOf({ authorization: `${scheme} ${TOKEN}` })).toBe(TOKEN);
  });

  it('tolerates extra spaces around the token', () => {
    expect(credentialOf({ authorization: `Bearer    ${TOKEN}  ` })).toBe(TOKEN);
    expect(credentialOf({ authorization: `  Bearer\t${TOKEN}` })).toBe(TOKEN);
  });

  it('reads the api-key header', () => {
    expect(credentialOf({ 'api-key': TOKEN })).toBe(TOKEN);
  });

  it('reads the x-api-key header', () => {
    expect(credentialOf({ 'x-api-key': TOKEN })).toBe(TOKEN);
  });

  it('trims api-key and x-api-key values', () => {
    expect(credentialOf({ 'api-key': ` ${TOKEN} ` })).toBe(TOKEN);
    expect(credentialOf({ 'x-api-key': `${TOKEN}\t` })).toBe(TOKEN);
  });

  it('accepts the same value in several carriers', () => {
    expect(credentialOf({ authorization: `Bearer ${TOKEN}`, 'api-key': TOKEN })).toBe(TOKEN);
    expect(credentialOf({ authorization: `bearer ${TOKEN}`, 'x-api-key': TOKEN })).toBe(TOKEN);
    expect(credentialOf({ 'api-key': TOKEN, 'x-api-key': TOKEN })).toBe(TOKEN);
    expect(credentialOf({ authorization: `BEARER ${TOKEN}`, 'api-key': TOKEN, 'x-api-key': TOKEN })).toBe(TOKEN);
  });

  it('ignores unrelated headers', () => {
    expect(credentialOf({ authorization: `Bearer ${TOKEN}`, 'x-openwebui-user-email': 'a@b.example', cookie: 'k=v' })).toBe(TOKEN);
  });

  it.each<[string, IncomingHttpHeaders]>([
    ['authorization vs api-key', { authorization: `Bearer ${TOKEN}`, 'api-key': OTHER }],
    ['authorization vs x-api-key', { authorization: `Bearer ${TOKEN}`, 'x-api-key': OTHER }],
    ['api-key vs x-api-key', { 'api-key': TOKEN, 'x-api-key': OTHER }],
    ['two agree, one differs', { authorization: `Bearer ${TOKEN}`, 'api-key': TOKEN, 'x-api-key': OTHER }],
    ['an empty api-key beside a bearer token', { authorization: `Bearer ${TOKEN}`, 'api-key': '' }],
  ])('refuses different values in different carriers (%s)', (_what, headers) => {
    expectRefused(headers, 'conflicting_credentials');
  });

  it.each<[string, IncomingHttpHeaders]>([
    ['api-key twice, different', { 'api-key': [TOKEN, OTHER] }],
    ['x-api-key twice, different', { 'x-api-key': [TOKEN, OTHER] }],
    ['authorization twice, different', { authorization: [`Bearer ${TOKEN}`, `Bearer ${OTHER}`] } as unknown as IncomingHttpHeaders],
  ])('refuses a header repeated with different values (%s)', (_what, headers) => {
    expectRefused(headers, 'conflicting_credentials');
  });

  it('accepts a header repeated with the same value', () => {
    expect(credentialOf({ 'api-key': [TOKEN, TOKEN] })).toBe(TOKEN);
  });

  describe('from the raw headers, which Node does not merge', () => {
    // Node keeps the first Authorization in `headers` and drops the rest; only rawHeaders has both.
    const merged: IncomingHttpHeaders = { authorization: `Bearer ${TOKEN}` };

    it('refuses a second, different Authorization header', () => {
      const err = (() => {
        try {
          credentialOf(merged, ['Authorization', `Bearer ${TOKEN}`, 'authorization', `Bearer ${OTHER}`]);
        } catch (e) {
          return e as SoakpError;
        }
        throw new Error('expected a refusal');
      })();
      expect(err.code).toBe('conflicting_credentials');
      expect(err.message).not.toContain('CANARY');
    });

    it('reads carriers in any letter case, repeated with one value, among other headers', () => {
      const raw = ['Host', 'x', 'AUTHORIZATION', `bearer ${TOKEN}`, 'Api-Key', TOKEN, 'X-API-KEY', ` ${TOKEN}`, 'Content-Type', 'application/json', 'x-api-key', TOKEN];
      expect(credentialOf(merged, raw)).toBe(TOKEN);
    });

    it('refuses different api-key values that Node would join into one', () => {
      expect(() => credentialOf({ 'api-key': `${TOKEN}, ${OTHER}` }, ['api-key', TOKEN, 'API-KEY', OTHER])).toThrow(/different credentials/);
    });

    it('answers missing_api_key when no carrier is among them', () => {
      expect(() => credentialOf({}, ['Host', 'x', 'Proxy-Authorization', `Bearer ${TOKEN}`])).toThrow(/didn't provide an API key/);
    });
  });

  it.each<[string, IncomingHttpHeaders]>([
    ['no headers', {}],
    ['only unrelated headers', { 'content-type': 'application/json', 'x-openwebui-user-email': 'a@b.example' }],
    ['credential-like headers under other names', { 'proxy-authorization': `Bearer ${TOKEN}`, 'x-api_key': TOKEN, apikey: TOKEN }],
  ])('refuses a request without a credential as missing_api_key (%s)', (_what, headers) => {
    expectRefused(headers, 'missing_api_key');
  });

  it.each([
    ['Basic scheme', `Basic ${TOKEN}`],
    ['token without scheme', TOKEN],
    ['scheme without token', 'Bearer'],
    ['scheme and spaces only', 'Bearer    '],
    ['two tokens', `Bearer ${TOKEN} ${OTHER}`],
    ['no space after scheme', `Bearer${TOKEN}`],
    ['comma-joined duplicates', `Bearer ${TOKEN}, Bearer ${OTHER}`],
    ['empty', ''],
    ['Bearer with a colon', `Bearer: ${TOKEN}`],
  ])('refuses a malformed Authorization header as invalid_api_key (%s)', (_what, value) => {
    expectRefused({ authorization: value }, 'invalid_api_key');
  });
});
