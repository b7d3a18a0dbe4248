import { describe, expect, it } from 'vitest';
import { type OriginPattern, originCovers, originMatcher, parseOrigin, parseOrigins } from './origins.js';

const p = (text: string): OriginPattern => {
  const parsed = parseOrigin(text);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
};

describe('origin patterns', () => {
  it('keeps origins in the form browsers send them', () => {
    expect(p('HTTPS://App.Example.COM').text).toBe('https://app.example.com');
    expect(p('https://app.example.com:443/').text).toBe('https://app.example.com');
    expect(p('http://127.0.0.1:5173').text).toBe('http://127.0.0.1:5173');
    expect(p('http://[::1]:8080').text).toBe('http://[::1]:8080');
    expect(p('https://bücher.example').text).toBe('https://xn--bcher-kva.example');
    expect(p('https://*.Example.com:8443').text).toBe('https://*.example.com:8443');
  });

  it('refuses what would allow too much or is not an origin', () => {
    for (const bad of ['*', 'null', 'NULL', 'https://*', 'https://*.com', 'https://*.1.2.3', 'https://a.*.example.com', 'https://app.example.com/x', 'https://app.example.com?q', 'app.example.com', 'ws://app.example.com', 'https://user@app.example.com', '']) {
      expect(typeof parseOrigin(bad), bad).toBe('string');
    }
    expect(() => parseOrigins(['https://ok.example.com', '*'])).toThrow(/every web site/);
  });

  it('matches exact origins exactly, and subdomain patterns on one or more labels only', () => {
    const match = originMatcher([p('https://app.example.com'), p('https://*.example.org'), p('http://*.dev.example.net:8080')]);
    expect(match('https://app.example.com')).toBe(true);
    expect(match('http://app.example.com')).toBe(false);
    expect(match('https://app.example.com:444')).toBe(false);
    expect(match('https://evil-app.example.com')).toBe(false);
    expect(match('https://a.example.org')).toBe(true);
    expect(match('https://a.b.example.org')).toBe(true);
    expect(match('https://example.org')).toBe(false);
    expect(match('https://evilexample.org')).toBe(false);
    expect(match('https://a.example.org.evil.com')).toBe(false);
    expect(match('https://a.example.org:8443')).toBe(false);
    expect(match('https://x/.example.org')).toBe(false);
    expect(match('http://x.dev.example.net:8080')).toBe(true);
    expect(match('http://x.dev.example.net')).toBe(false);
    expect(match('null')).toBe(false);
  });

  it('says whether one list covers a narrower origin or pattern', () => {
    const wide = [p('https://*.example.com'), p('https://app.example.org')];
    expect(originCovers(wide, p('https://a.example.com'))).toBe(true);
    expect(originCovers(wide, p('https://*.a.example.com'))).toBe(true);
    expect(originCovers(wide, p('https://*.example.com'))).toBe(true);
    expect(originCovers(wide, p('https://app.example.org'))).toBe(true);
    expect(originCovers(wide, p('https://example.com'))).toBe(false);
    expect(originCovers(wide, p('https://*.example.org'))).toBe(false);
    expect(originCovers(wide, p('http://a.example.com'))).toBe(false);
    expect(originCovers(wide, p('https://*.badexample.com'))).toBe(false);
  });
});
