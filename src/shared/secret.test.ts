import { Console } from 'node:console';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { format, formatWithOptions, inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Secret, maskKey } from './secret.js';

const canary = () => `sk-canary-${randomBytes(16).toString('hex')}`;

/** A real Console writing into a string, as console.log/error/dir/table would print. */
function captureConsole(): { console: Console; output: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { console: new Console({ stdout: sink, stderr: sink, colorMode: false }), output: () => chunks.join('') };
}

describe('Secret', () => {
  it('reveal() gives the value, string or Buffer', () => {
    const value = canary();
    expect(new Secret(value).reveal()).toBe(value);
    const buf = randomBytes(32);
    expect(new Secret(buf).reveal()).toBe(buf);
  });

  it('String(), template literals and concatenation yield [secret]', () => {
    const value = canary();
    const s = new Secret(value);
    expect(String(s)).toBe('[secret]');
    expect(s.toString()).toBe('[secret]');
    expect(`${s}`).toBe('[secret]');
    expect(`key=${s}!`).toBe('key=[secret]!');
    expect('key=' + s).toBe('key=[secret]');
    expect([s, s].join(',')).toBe('[secret],[secret]');
  });

  it('JSON.stringify yields [secret], alone and nested', () => {
    const value = canary();
    const s = new Secret(value);
    expect(JSON.stringify(s)).toBe('"[secret]"');
    expect(JSON.stringify({ user: 'a@example.com', key: s, nested: { list: [s] } })).toBe(
      '{"user":"a@example.com","key":"[secret]","nested":{"list":["[secret]"]}}',
    );
  });

  it('util.inspect yields [secret], alone, nested, and with every option turned up', () => {
    const value = canary();
    const s = new Secret(value);
    expect(inspect(s)).toBe('[secret]');
    const nested = inspect({ a: { b: { c: { key: s } } } }, { depth: Infinity, showHidden: true, getters: true });
    expect(nested).toContain('[secret]');
    expect(nested).not.toContain(value);
    expect(inspect(new Map([['k', s]]))).toContain('[secret]');
    expect(inspect([s])).toBe('[ [secret] ]');
  });

  it('a Buffer secret prints no bytes either', () => {
    const buf = Buffer.from(canary());
    const s = new Secret(buf);
    for (const text of [String(s), `${s}`, JSON.stringify({ s }), inspect({ s }, { showHidden: true })]) {
      expect(text).toContain('[secret]');
      expect(text).not.toContain(buf.toString());
      expect(text).not.toContain(buf.toString('hex').slice(0, 16));
      expect(text).not.toContain(buf.toString('base64').slice(0, 16));
    }
  });

  it('console-style formatting of an object containing a Secret prints [secret]', () => {
    const value = canary();
    const record = { id: 'key_1', upstream: 'openai', key: new Secret(value) };
    const formatted = [
      format('%s', record),
      format('%o', record),
      format('%O', record),
      format('%j', record),
      format('%s', record.key),
      format('%o', record.key),
      format('saved', record),
      format(record),
      formatWithOptions({ depth: Infinity, showHidden: true }, '%O', { wrapper: record }),
    ];
    for (const text of formatted) {
      expect(text).toContain('[secret]');
      expect(text).not.toContain(value);
    }

    const { console: con, output } = captureConsole();
    con.log(record);
    con.log('record: %o', record);
    con.error('failed for', record, record.key);
    con.info(`${record.key}`);
    con.table([record]);
    const out = output();
    expect(out.match(/\[secret\]/g)?.length).toBe(6);
    expect(out).not.toContain(value);
    expect(out).not.toContain(value.slice(10, 26));

    // console.dir turns custom inspectors off: it shows `Secret {}`, still without the value.
    const dir = captureConsole();
    dir.console.dir(record, { depth: null, showHidden: true });
    expect(dir.output()).toContain('key: Secret {}');
    expect(dir.output()).not.toContain(value);
  });

  it('has no enumerable state that could be copied out', () => {
    const value = canary();
    const s = new Secret(value);
    expect(Object.keys(s)).toEqual([]);
    expect(Object.getOwnPropertyNames(s)).toEqual([]);
    expect(JSON.stringify({ ...s })).toBe('{}');
    expect(JSON.stringify(Object.assign({}, s))).toBe('{}');
    // Even bypassing the custom inspector, the private field is not printed.
    expect(inspect(s, { customInspect: false, showHidden: true })).not.toContain(value);
  });
});

describe('maskKey', () => {
  it('shows the first 3 and last 4 characters of a long key', () => {
    expect(maskKey('sk-proj-abcdefghijklmnop1234')).toBe('sk-…1234');
    const key = `sk-${randomBytes(24).toString('hex')}`;
    const masked = maskKey(key);
    expect(masked).toBe(`${key.slice(0, 3)}…${key.slice(-4)}`);
    expect(masked).not.toContain(key.slice(3, 10));
  });

  it('shows only an ellipsis for keys shorter than 12 characters', () => {
    for (const key of ['', 'a', 'sk-1234', 'sk-12345678']) {
      expect(key.length).toBeLessThan(12);
      expect(maskKey(key)).toBe('…');
    }
  });

  it('masks from 12 characters on, never showing more than 7 of them', () => {
    expect(maskKey('abcdefghijkl')).toBe('abc…ijkl');
    const masked = maskKey('sk-abcdefghijklmnopqrstuvwxyz');
    expect(masked.replace('…', '').length).toBe(7);
  });
});
