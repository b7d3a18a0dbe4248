import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../shared/logger.js';
import type { Store } from '../store/ports.js';
import { openSqliteStore } from '../store/sqlite/open.js';
import { AuditLog, entryHash, verifyChain } from './index.js';

const logger = createLogger('silent');
// Tests here are about the chain; the head's MAC is the vault's (see test/hardening/audit-tamper).
const headMac = (_previous: unknown, seq: number, hash: string): string => `${seq}|${hash}`;
const DIST = new URL('../../dist/', import.meta.url);

/** A child process that opens its own store on `file` and appends `n` entries once told to go. */
function spawnWriter(file: string, actor: string, n: number) {
  if (!existsSync(new URL('audit/index.js', DIST))) throw new Error('Build first (npm run build): the writer processes run dist/.');
  const script = `
    const { openSqliteStore } = await import(${JSON.stringify(new URL('store/sqlite/open.js', DIST).href)});
    const { AuditLog } = await import(${JSON.stringify(new URL('audit/index.js', DIST).href)});
    const store = await openSqliteStore({ file: process.env.FILE });
    const log = new AuditLog(store.audit, () => "", { error: (o) => console.error(JSON.stringify(o)) });
    process.stdout.write('ready\\n');
    await new Promise((go) => process.stdin.once('data', go));
    await Promise.all(Array.from({ length: ${n} }, (_, i) => log.record({ actor: ${JSON.stringify(actor)}, action: 'test.append', target: String(i) })));
    await log.close();
    await store.close();
    process.exit(0);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH, FILE: file } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const done = new Promise<void>((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}: ${stderr}`)))));
  return { ready, done, go: () => child.stdin.write('go\n') };
}

describe('the audit log over a real SQLite store', () => {
  let dir: string;
  let file: string;
  let store: Store;
  let log: AuditLog;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-audit-'));
    file = join(dir, 'soakp.db');
    store = await openSqliteStore({ file });
    log = new AuditLog(store.audit, headMac, logger);
  });
  afterEach(async () => {
    await log.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // Edits go straight to the file, as someone with the database but not soakp would make them.
  function tamper(statement: string): void {
    const raw = new BetterSqlite3(file);
    try {
      raw.prepare(statement).run();
    } finally {
      raw.close();
    }
  }

  async function five(): Promise<void> {
    for (const action of ['user.add', 'token.issue', 'key.set', 'user.disable', 'token.revoke']) {
      await log.record({ actor: 'cli:test', action, target: 'a@example.com', details: { n: 1, nested: { b: 2, a: [1, 'x'] } }, source: 'cli' });
    }
  }

  it('chains entries that verify, and hashes independently of key order', async () => {
    await five();
    const entries = await store.audit.list();
    expect(entries.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
    expect(entries[0]?.prevHash).toBe('');
    expect(verifyChain(entries)).toEqual({ ok: true, count: 5 });
    const e = entries[1]!;
    expect(entryHash(e.prevHash, { ...e, details: { nested: { a: [1, 'x'], b: 2 }, n: 1 } })).toBe(e.hash);
  });

  it.each([
    ['details', `UPDATE audit_log SET details = '{"n":2}' WHERE id = 3`],
    ['actor', `UPDATE audit_log SET actor = 'evil' WHERE id = 3`],
  ])('names the entry whose %s was edited', async (_field, statement) => {
    await five();
    tamper(statement);
    expect(verifyChain(await store.audit.list())).toMatchObject({ ok: false, brokenAt: 3, count: 2, reason: expect.stringContaining('edited') });
  });

  it('detects a deleted middle entry, a deleted first entry and swapped entries', async () => {
    await five();
    tamper('DELETE FROM audit_log WHERE id = 3');
    expect(verifyChain(await store.audit.list())).toMatchObject({ ok: false, brokenAt: 4, reason: expect.stringContaining('follow entry 2') });
    tamper('DELETE FROM audit_log WHERE id = 1');
    expect(verifyChain(await store.audit.list())).toMatchObject({ ok: false, brokenAt: 2, reason: expect.stringContaining('removed') });
    // A removal papered over by re-linking still shows as a gap in the ids.
    const [a, , c] = await store.audit.list();
    expect(verifyChain([{ ...a!, prevHash: '' , hash: entryHash('', a!) }, { ...c!, prevHash: entryHash('', a!), hash: entryHash(entryHash('', a!), c!) }]))
      .toMatchObject({ ok: false, brokenAt: c!.id, reason: expect.stringContaining('missing') });
    const list = await store.audit.list();
    expect(verifyChain([list[1]!, list[0]!], { complete: false })).toMatchObject({ ok: false, reason: expect.stringContaining('out of order') });
  });

  // Two processes, as the CLI and a server are: better-sqlite3 is synchronous, so a second
  // connection in this same thread would wait out SQLite's busy timeout while holding the
  // thread the first connection needs to commit. The writers run the built code (npm run build).
  it('never forks under concurrent appends from other connections to one file', async () => {
    const writers = [spawnWriter(file, 'writer-a', 150), spawnWriter(file, 'writer-b', 150)];
    await Promise.all(writers.map((w) => w.ready));
    for (const w of writers) w.go();
    const mine = Array.from({ length: 150 }, (_, i) => log.record({ actor: 'writer-main', action: 'test.append', target: String(i) }));
    await Promise.all([...mine, ...writers.map((w) => w.done)]);
    const entries = await store.audit.list();
    expect(entries).toHaveLength(450);
    expect(new Set(entries.map((e) => e.actor))).toEqual(new Set(['writer-main', 'writer-a', 'writer-b']));
    expect(verifyChain(entries)).toEqual({ ok: true, count: 450 });
  });

  it('aggregates a flood of security events into one entry per key and window', async () => {
    for (let i = 0; i < 1000; i++) log.securityEvent('auth_failed', 'token:tok_a', '10.0.0.1', { route: '/v1/chat/completions' });
    log.securityEvent('auth_failed', 'token:tok_a', '10.0.0.2');
    await log.flush();
    const entries = await store.audit.list();
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({ action: 'security.auth_failed', actor: 'token:tok_a', source: '10.0.0.1', details: { count: 1000, route: '/v1/chat/completions' } });
    expect(entries[0]!.details.first).toBeTypeOf('number');
    expect(entries[1]).toMatchObject({ source: '10.0.0.2', details: { count: 1 } });
  });

  it('bounds distinct keys: beyond the limit they share one overflow entry', async () => {
    const bounded = new AuditLog(store.audit, headMac, logger, { maxKeys: 50 });
    for (let i = 0; i < 5000; i++) bounded.securityEvent(i % 2 ? 'rate_limited' : 'scope_denied', `token:tok_${i}`, `10.0.${i % 250}.1`);
    await bounded.close();
    const entries = await store.audit.list();
    expect(entries).toHaveLength(51);
    expect(entries[50]).toMatchObject({ action: 'security.overflow', details: { count: 4950, events: { rate_limited: 2475, scope_denied: 2475 } } });
    expect(verifyChain(entries).ok).toBe(true);
  });

  it('writes pending counts when the window ends, on an unref timer', async () => {
    const timed = new AuditLog(store.audit, headMac, logger, { windowMs: 20 });
    timed.securityEvent('budget_exceeded', 'user:usr_a', null);
    await expect.poll(async () => (await store.audit.list()).length, { timeout: 2000 }).toBe(1);
    await timed.close();
  });

  it('redacts anything that looks like a key or token, keeping masked hints', async () => {
    const key = `sk-proj-${'a1'.repeat(20)}`;
    const entry = await log.record({
      actor: key, action: 'key.set', target: 'a@example.com',
      details: { keyHint: 'sk-…a1a1', oops: key, token: 'anything', nested: [{ auth: `Bearer ${key}` }], message: `failed with ${key} inside` },
    });
    expect(JSON.stringify(await store.audit.list())).not.toContain(key.slice(8));
    expect(entry.actor).toBe('[redacted]');
    expect(entry.details).toEqual({ keyHint: 'sk-…a1a1', oops: '[redacted]', token: '[redacted]', nested: [{ auth: '[redacted]' }], message: '[redacted]' });
    expect(verifyChain(await store.audit.list()).ok).toBe(true);
  });
});
