import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';

const file = (text: string): string => {
  const path = join(mkdtempSync(join(tmpdir(), 'soakp-cors-')), 'c.yaml');
  writeFileSync(path, text);
  return path;
};

const problems = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('no problem reported');
};

describe('cors settings', () => {
  it('is off by default, with a 10-minute preflight cache', () => {
    const { config } = loadConfig({}, {});
    expect(config.cors).toEqual({ origins: [], maxAge: 600_000 });
    expect(config.ephemeralTokens).toEqual({ defaultTtl: 600_000, maxTtl: 3_600_000, mintsPerMinute: 60 });
  });

  it('takes --cors-origins over SOAKP_CORS_ORIGINS over the file, in the form browsers send', () => {
    const path = file('cors:\n  origins: [https://file.example.com]\n  maxAge: 1m\n');
    expect(loadConfig({ config: path }, {}).config.cors).toEqual({ origins: ['https://file.example.com'], maxAge: 60_000 });
    const env = { SOAKP_CORS_ORIGINS: 'https://App.Example.com:443/, http://127.0.0.1:5173' };
    expect(loadConfig({ config: path }, env).config.cors.origins).toEqual(['https://app.example.com', 'http://127.0.0.1:5173']);
    expect(loadConfig({ config: path, corsOrigins: 'https://*.example.com' }, env).config.cors).toEqual({ origins: ['https://*.example.com'], maxAge: 60_000 });
  });

  it('explains every wrong pattern at once, naming where it came from', () => {
    const message = problems(() => loadConfig({ corsOrigins: '*,null,https://app.example.com/path,https://*.com,ftp://x.example.com,https://a.*.example.com' }, {}));
    expect(message).toContain('"*" would let every web site');
    expect(message).toContain('"null" is the origin of sandboxed frames');
    expect(message).toContain('"https://app.example.com/path" is not an origin');
    expect(message).toContain('"https://*.com" is too wide');
    expect(message).toContain('"ftp://x.example.com" is not an origin');
    expect(message).toContain('"https://a.*.example.com"');
    expect(message).toContain('from --cors-origins');
  });

  it('refuses an ephemeral lifetime that is not a duration, and unknown keys', () => {
    const message = problems(() => loadConfig({ config: file('ephemeralTokens:\n  maxTtl: soon\ncors:\n  allow: all\n') }, {}));
    expect(message).toContain('ephemeralTokens.maxTtl: must be a duration');
    expect(message).toContain('Unrecognized key: "allow"');
  });
});
