import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SoakpError } from '../shared/errors.js';
import { addKeyVersion, masterKeySource, parseKeyring } from './master-key-source.js';

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

/** Asserts no part of any secret text appears in the error, however it is printed. */
function expectNoKeyText(err: Error, secrets: string[]): void {
  const printed = [err.message, String(err), err.stack ?? '', inspect(err, { depth: 10 }), JSON.stringify(err)].join('\n');
  for (const s of secrets) {
    const t = s.trim();
    if (t.length < 8) continue;
    // Any 8-character window of the key text would be a leak.
    for (let i = 0; i + 8 <= t.length; i += 4) expect(printed).not.toContain(t.slice(i, i + 8));
  }
}

const mode = (file: string) => statSync(file).mode & 0o777;

const k1 = randomBytes(32);
const k2 = randomBytes(32);
const k3 = randomBytes(32);
const b64 = (k: Buffer) => k.toString('base64');

describe('parseKeyring', () => {
  it('accepts a single base64 key as version 1', () => {
    const ring = parseKeyring(b64(k1), 'SOAKP_MASTER_KEY');
    expect(ring.versions).toEqual([1]);
    expect(ring.key(1).equals(k1)).toBe(true);
  });

  it('accepts base64 without padding, base64url, and surrounding whitespace', () => {
    const k = Buffer.alloc(32, 0xfb); // base64 "+/v7…": exercises + and /
    expect(b64(k)).toMatch(/[+/]/);
    expect(parseKeyring(b64(k).replace(/=$/, ''), 's').key(1).equals(k)).toBe(true);
    expect(parseKeyring(k.toString('base64url'), 's').key(1).equals(k)).toBe(true);
    expect(parseKeyring(`  ${b64(k)}\n\n`, 's').key(1).equals(k)).toBe(true);
  });

  it('accepts a 64-digit hex key, either case', () => {
    expect(parseKeyring(k1.toString('hex'), 's').key(1).equals(k1)).toBe(true);
    expect(parseKeyring(k1.toString('hex').toUpperCase(), 's').key(1).equals(k1)).toBe(true);
    expect(parseKeyring(`2:${k2.toString('hex')}`, 's').key(2).equals(k2)).toBe(true);
  });

  it('accepts versioned entries separated by commas', () => {
    const ring = parseKeyring(`1:${b64(k1)},2:${b64(k2)}`, 's');
    expect(ring.versions).toEqual([1, 2]);
    expect(ring.current).toBe(2);
    expect(ring.key(1).equals(k1)).toBe(true);
    expect(ring.key(2).equals(k2)).toBe(true);
  });

  it('accepts versions on separate lines (LF or CRLF), with spaces, gaps and comments', () => {
    const text = [
      '# soakp master keys',
      `1:${b64(k1)}`,
      '',
      '  # retired after the next rotation',
      `  2: ${b64(k2)}  `,
      `7:${k3.toString('hex')}`,
      '',
    ].join('\n');
    const ring = parseKeyring(text, 'keyfile');
    expect(ring.versions).toEqual([1, 2, 7]);
    expect(ring.current).toBe(7);
    expect(ring.key(7).equals(k3)).toBe(true);
    const crlf = parseKeyring(text.replace(/\n/g, '\r\n'), 'keyfile');
    expect(crlf.versions).toEqual([1, 2, 7]);
    expect(crlf.key(2).equals(k2)).toBe(true);
  });

  it('accepts one unversioned key surrounded by comments as version 1', () => {
    const ring = parseKeyring(`# generated\n${b64(k1)}\n# end\n`, 's');
    expect(ring.versions).toEqual([1]);
    expect(ring.key(1).equals(k1)).toBe(true);
  });

  it('refuses keys of the wrong length, naming the source and version but not the key', () => {
    const bad = [
      randomBytes(31).toString('base64'),
      randomBytes(33).toString('base64'),
      randomBytes(16).toString('base64'),
      randomBytes(31).toString('hex'),
      randomBytes(33).toString('hex'),
      `${k1.toString('hex')}0`,
      `${b64(k1).slice(0, 42)}`,
      `${b64(k1)}==`,
    ];
    for (const text of bad) {
      const err = expectCode(() => parseKeyring(text, 'SOAKP_MASTER_KEY'), 'invalid_config');
      expect(err.message).toContain('SOAKP_MASTER_KEY');
      expect(err.message).toMatch(/32 bytes/);
      expectNoKeyText(err, [text]);
      const err2 = expectCode(() => parseKeyring(`1:${b64(k1)}\n3:${text}`, '/etc/soakp/master.key'), 'invalid_config');
      expect(err2.message).toContain('/etc/soakp/master.key');
      expect(err2.message).toContain('version 3');
      expectNoKeyText(err2, [text, b64(k1)]);
    }
  });

  it('refuses duplicate versions without printing either key', () => {
    const err = expectCode(() => parseKeyring(`1:${b64(k1)}\n1:${b64(k2)}`, 'keyfile'), 'invalid_config');
    expect(err.message).toMatch(/version 1 appears twice/);
    expectNoKeyText(err, [b64(k1), b64(k2)]);
    // 01 and 1 are the same version.
    expectCode(() => parseKeyring(`1:${b64(k1)},01:${b64(k2)}`, 'keyfile'), 'invalid_config');
  });

  it('refuses several keys without versions, a mix, and version 0', () => {
    for (const text of [`${b64(k1)},${b64(k2)}`, `${b64(k1)}\n2:${b64(k2)}`, `0:${b64(k1)}`]) {
      const err = expectCode(() => parseKeyring(text, 'SOAKP_MASTER_KEY'), 'invalid_config');
      expect(err.message).toMatch(/VERSION:KEY/);
      expectNoKeyText(err, [b64(k1), b64(k2)]);
    }
  });

  it('refuses garbage without echoing it', () => {
    const garbage = [
      'correct horse battery staple',
      'not-a-key-at-all-but-long-enough-to-leak-something',
      `1:${'z'.repeat(64)}`,
      `${'g'.repeat(64)}`,
      `1:${b64(k1)};2:${b64(k2)}`,
      `v1:${b64(k1)}`,
      `1=${b64(k1)}`,
    ];
    for (const text of garbage) {
      const err = expectCode(() => parseKeyring(text, 'SOAKP_MASTER_KEY'), 'invalid_config');
      expectNoKeyText(err, [text, ...text.split(/[:;,=]/)]);
    }
  });

  it('refuses an empty or comment-only keyring with master_key_missing', () => {
    for (const text of ['', '   ', '\n\n', '# only a comment\n', ',,,']) {
      const err = expectCode(() => parseKeyring(text, 'keyfile'), 'master_key_missing');
      expect(err.message).toContain('keyfile');
    }
  });
});

describe('masterKeySource', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-mks-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('prefers SOAKP_MASTER_KEY over a key file and the data directory', () => {
    const file = join(dir, 'keys');
    writeFileSync(file, `1:${b64(k2)}\n`, { mode: 0o600 });
    const src = masterKeySource({ env: { SOAKP_MASTER_KEY: b64(k1), SOAKP_MASTER_KEY_FILE: file }, dataDir: join(dir, 'data') });
    expect(src.kind).toBe('env');
    expect(src.file).toBeUndefined();
    expect(src.load().key(1).equals(k1)).toBe(true);
    expect(existsSync(join(dir, 'data'))).toBe(false); // nothing generated
  });

  it('uses SOAKP_MASTER_KEY_FILE when the env key is absent or blank', () => {
    const file = join(dir, 'keys');
    writeFileSync(file, `1:${b64(k1)}\n2:${b64(k2)}\n`, { mode: 0o600 });
    for (const env of [{ SOAKP_MASTER_KEY_FILE: file }, { SOAKP_MASTER_KEY: '  ', SOAKP_MASTER_KEY_FILE: file }]) {
      const src = masterKeySource({ env, dataDir: join(dir, 'data') });
      expect(src.kind).toBe('file');
      expect(src.file).toBe(file);
      const ring = src.load();
      expect(ring.versions).toEqual([1, 2]);
      expect(ring.key(2).equals(k2)).toBe(true);
    }
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('re-reads the file on every load (sees versions added by another process)', () => {
    const file = join(dir, 'keys');
    writeFileSync(file, `1:${b64(k1)}\n`, { mode: 0o600 });
    const src = masterKeySource({ env: { SOAKP_MASTER_KEY_FILE: file }, dataDir: dir });
    expect(src.load().versions).toEqual([1]);
    writeFileSync(file, `1:${b64(k1)}\n2:${b64(k2)}\n`);
    expect(src.load().versions).toEqual([1, 2]);
  });

  it('fails with master_key_missing naming the file when the key file is absent', () => {
    const file = join(dir, 'absent.key');
    const src = masterKeySource({ env: { SOAKP_MASTER_KEY_FILE: file }, dataDir: dir });
    const err = expectCode(() => src.load(), 'master_key_missing');
    expect(err.message).toContain(file);
    expect(existsSync(file)).toBe(false);
  });

  it('generates <dataDir>/master.key once: mode 0600, version 1, reported once', () => {
    const dataDir = join(dir, 'nested', 'data');
    const generated: string[] = [];
    const src = masterKeySource({ env: { SOAKP_MASTER_KEY: '', SOAKP_MASTER_KEY_FILE: '' }, dataDir, onGenerate: (f) => generated.push(f) });
    const file = join(dataDir, 'master.key');
    expect(src.kind).toBe('generated');
    expect(src.file).toBe(file);
    expect(existsSync(file)).toBe(false); // nothing happens before load

    const ring = src.load();
    expect(generated).toEqual([file]);
    expect(mode(file)).toBe(0o600);
    expect(mode(dataDir)).toBe(0o700);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^1:[A-Za-z0-9+/]{43}=\n$/);
    expect(ring.versions).toEqual([1]);
    expect(ring.key(1).equals(Buffer.from(text.slice(2).trim(), 'base64'))).toBe(true);
    expect(readdirSync(dataDir)).toEqual(['master.key']);

    // Loading again — from this source or a new one — reuses the file and reports nothing.
    expect(src.load().key(1).equals(ring.key(1))).toBe(true);
    const again = masterKeySource({ env: {}, dataDir, onGenerate: (f) => generated.push(f) });
    expect(again.load().key(1).equals(ring.key(1))).toBe(true);
    expect(generated).toEqual([file]);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('generates a different key for a different data directory', () => {
    const a = masterKeySource({ env: {}, dataDir: join(dir, 'a') }).load();
    const b = masterKeySource({ env: {}, dataDir: join(dir, 'b') }).load();
    expect(a.key(1).equals(b.key(1))).toBe(false);
  });
});

describe('addKeyVersion', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-akv-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('appends the next version to a file keyring, keeping the existing keys and comments', () => {
    const file = join(dir, 'master.key');
    const original = `# production keys\n1:${b64(k1)}\n3:${b64(k3)}\n`;
    writeFileSync(file, original, { mode: 0o600 });
    const src = masterKeySource({ env: { SOAKP_MASTER_KEY_FILE: file }, dataDir: dir });

    expect(addKeyVersion(src)).toBe(4);
    const text = readFileSync(file, 'utf8');
    expect(text.startsWith(original)).toBe(true);
    expect(text.slice(original.length)).toMatch(/^4:[A-Za-z0-9+/]{43}=\n$/);
    const ring = src.load();
    expect(ring.versions).toEqual([1, 3, 4]);
    expect(ring.key(1).equals(k1)).toBe(true);
    expect(ring.key(3).equals(k3)).toBe(true);
    expect(ring.key(4).equals(k1) || ring.key(4).equals(k3)).toBe(false);

    expect(addKeyVersion(src)).toBe(5);
    const ring5 = src.load();
    expect(ring5.versions).toEqual([1, 3, 4, 5]);
    expect(ring5.key(4).equals(ring.key(4))).toBe(true);
    expect(ring5.key(5).equals(ring.key(4))).toBe(false);
  });

  it('replaces the file atomically: mode 0600, no temporary file left behind', () => {
    const file = join(dir, 'master.key');
    writeFileSync(file, `1:${b64(k1)}`); // no trailing newline
    chmodSync(file, 0o400); // owner-only but not 0600: the replacement gets 0600
    const src = masterKeySource({ env: { SOAKP_MASTER_KEY_FILE: file }, dataDir: dir });
    const inodeBefore = statSync(file).ino;
    expect(addKeyVersion(src)).toBe(2);
    expect(mode(file)).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['master.key']);
    // Replaced by rename, not rewritten in place.
    expect(statSync(file).ino).not.toBe(inodeBefore);
    expect(readFileSync(file, 'utf8')).toMatch(new RegExp(`^1:${b64(k1).replace(/[+/]/g, '\\$&')}\\n2:[A-Za-z0-9+/]{43}=\\n$`));
  });

  it('works on a generated key file', () => {
    const src = masterKeySource({ env: {}, dataDir: join(dir, 'data') });
    const first = src.load().key(1);
    expect(addKeyVersion(src)).toBe(2);
    const ring = src.load();
    expect(ring.versions).toEqual([1, 2]);
    expect(ring.key(1).equals(first)).toBe(true);
    expect(mode(src.file as string)).toBe(0o600);
  });

  it('refuses for an env key with a message that says what to do, and changes nothing', () => {
    const file = join(dir, 'master.key');
    writeFileSync(file, `1:${b64(k2)}\n`, { mode: 0o600 });
    const envKey = b64(k1);
    const src = masterKeySource({ env: { SOAKP_MASTER_KEY: envKey, SOAKP_MASTER_KEY_FILE: file }, dataDir: dir });
    const err = expectCode(() => addKeyVersion(src), 'invalid_config');
    expect(err.message).toContain('SOAKP_MASTER_KEY');
    expect(err.message).toMatch(/1:<old>,2:<new>/);
    expect(err.message).toContain('soakp vault rotate');
    expectNoKeyText(err, [envKey]);
    expect(readFileSync(file, 'utf8')).toBe(`1:${b64(k2)}\n`);
    expect(readdirSync(dir)).toEqual(['master.key']);
  });
});

describe('addKeyVersion on a file holding one bare key', () => {
  it('marks the bare key as version 1 and appends version 2, so the file still parses', () => {
    const dir = mkdtempSync(join(tmpdir(), 'soakp-bare-'));
    try {
      const file = join(dir, 'key');
      const bare = randomBytes(32).toString('base64');
      writeFileSync(file, `# my key\n${bare}\n`, { mode: 0o600 });
      const source = masterKeySource({ env: { SOAKP_MASTER_KEY_FILE: file }, dataDir: dir });
      expect(addKeyVersion(source)).toBe(2);
      const text = readFileSync(file, 'utf8');
      expect(text).toMatch(/^# my key\n1:/);
      const ring = parseKeyring(text, file);
      expect(ring.versions).toEqual([1, 2]);
      expect(ring.key(1).toString('base64')).toBe(bare);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('key files others could read, and a lost generated key', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-keyfile-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it.each([['0644', 0o644], ['0640', 0o640], ['0604', 0o604], ['0660', 0o660]])('refuses a key file with mode %s, naming the chmod and no key text', (_name, m) => {
    const file = join(dir, 'key');
    writeFileSync(file, `1:${b64(k1)}\n`, { mode: 0o600 });
    chmodSync(file, m);
    const err = expectCode(() => masterKeySource({ env: { SOAKP_MASTER_KEY_FILE: file }, dataDir: dir }).load(), 'invalid_config');
    expect(err.message).toContain(`chmod 600 ${file}`);
    expectNoKeyText(err, [b64(k1)]);
  });

  it('accepts 0400 and 0600', () => {
    const file = join(dir, 'key');
    writeFileSync(file, `1:${b64(k1)}\n`, { mode: 0o600 });
    for (const m of [0o400, 0o600]) {
      chmodSync(file, m);
      expect(masterKeySource({ env: { SOAKP_MASTER_KEY_FILE: file }, dataDir: dir }).load().key(1).equals(k1)).toBe(true);
    }
  });

  it('does not generate master.key when the store holds sealed data, and generates it when not', () => {
    const sealed = masterKeySource({ env: {}, dataDir: dir, holdsSealedData: () => true });
    expect(expectCode(() => sealed.load(), 'master_key_missing').message).toMatch(/master\.key is missing, but the database holds data sealed/);
    expect(existsSync(join(dir, 'master.key'))).toBe(false);
    const empty = masterKeySource({ env: {}, dataDir: dir, holdsSealedData: () => false });
    expect(empty.load().versions).toEqual([1]);
    expect(sealed.load().versions).toEqual([1]); // once it exists, it is simply read
  });
});
