import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { entryHash } from '../../src/audit/index.js';
import { json, runCli } from '../helpers/cli.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

/**
 * Someone with write access to the database file (but not the master key) edits the audit
 * log behind soakp's back: `audit verify` must notice, with exit 6 and a reason.
 */
describe('audit log tampering without the master key', () => {
  let temp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    temp = tempDir();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey() };
    for (const email of ['a@example.com', 'b@example.com', 'c@example.com']) {
      json(await runCli(['user', 'add', email, '--key', canaryKey(), '--no-token', '--json'], env));
    }
    expect(json(await runCli(['audit', 'verify', '--json'], env))).toEqual({ ok: true, count: 3 });
  });
  afterEach(() => temp.cleanup());

  function tamper(sql: string): void {
    const raw = new BetterSqlite3(join(temp.dir, 'soakp.db'));
    try {
      raw.exec(sql);
    } finally {
      raw.close();
    }
  }

  async function expectBroken(reason: RegExp): Promise<void> {
    const r = await runCli(['audit', 'verify'], env);
    expect(r.code, r.stdout + r.stderr).toBe(6);
    expect(r.stderr).toMatch(reason);
    const j = await runCli(['audit', 'verify', '--json'], env);
    expect(j.code).toBe(6);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false });
    expect(JSON.parse(j.stderr)).toMatchObject({ error: { code: 'audit_broken' } });
  }

  it('notices that every entry was deleted', async () => {
    tamper('DELETE FROM audit_log');
    await expectBroken(/Audit chain broken.*the head records 3 entries but the log holds 0: entries were removed from its end/);
  });

  it('notices that the newest entry was deleted', async () => {
    tamper('DELETE FROM audit_log WHERE id = 3');
    await expectBroken(/Audit chain broken.*the head records 3 entries but the log holds 2: entries were removed from its end/);
  });

  it('notices that the newest entry was rewritten', async () => {
    tamper(`UPDATE audit_log SET actor = 'someone-else' WHERE id = 3`);
    await expectBroken(/Audit chain broken at entry 3: .*edited/);
  });

  it('notices the newest entry rewritten with its hash recomputed and the head moved to match', async () => {
    const raw = new BetterSqlite3(join(temp.dir, 'soakp.db'));
    try {
      const r = raw.prepare('SELECT * FROM audit_log WHERE id = 3').get() as Record<string, string | number | null>;
      const entry = { at: Number(r.at), actor: 'someone-else', action: String(r.action), target: r.target as string | null, details: JSON.parse(String(r.details)) as Record<string, unknown>, source: r.source as string | null };
      const hash = entryHash(String(r.prev_hash), entry);
      raw.prepare('UPDATE audit_log SET actor = ?, hash = ? WHERE id = 3').run(entry.actor, hash);
      raw.prepare('UPDATE audit_head SET hash = ?').run(hash);
    } finally {
      raw.close();
    }
    await expectBroken(/Audit chain broken.*the audit head is not authenticated/);
  });

  it('notices a head rewritten to match a shortened log (no master key to sign it)', async () => {
    tamper(`DELETE FROM audit_log WHERE id = 3; UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE id = 2)`);
    await expectBroken(/Audit chain broken.*the audit head is not authenticated/);
  });

  it('notices an emptied log with its head reset to the start', async () => {
    tamper(`DELETE FROM audit_log; UPDATE audit_head SET seq = 0, hash = ''`);
    await expectBroken(/Audit chain broken.*the audit head is not authenticated/);
  });

  it('adopts a log written before heads were signed, once, and says so in the log', async () => {
    // What an earlier version left: no MAC column, its migration (and the later ones) not yet run.
    tamper(`ALTER TABLE audit_head DROP COLUMN mac; DROP TABLE tls_certificates; DROP TABLE acme_challenges; DROP TABLE leases;
      DROP TABLE instances; DROP TABLE budget_holds; DROP INDEX usage_at_summary; CREATE INDEX usage_at ON usage (at);
      DELETE FROM kysely_migration WHERE name IN ('0003_audit_head_mac', '0004_tls_certificates', '0005_budget_holds', '0006_usage_summary_index')`);
    expect(json(await runCli(['audit', 'verify', '--json'], env))).toEqual({ ok: true, count: 4 });
    const entries = json<Array<{ action: string; details: unknown }>>(await runCli(['audit', 'list', '--json'], env));
    expect(entries.at(-1)).toMatchObject({ action: 'audit.head-adopted', details: { seq: 3 } });
    tamper('DELETE FROM audit_log WHERE id = 4');
    await expectBroken(/entries were removed from its end/);
  });

  it('does not adopt a head whose MAC was blanked', async () => {
    tamper(`DELETE FROM audit_log WHERE id = 3; UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE id = 2), mac = ''`);
    await expectBroken(/the audit head is not authenticated/);
  });

  it('stays broken when a tampered head is extended by later entries', async () => {
    tamper(`DELETE FROM audit_log WHERE id = 3; UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_log WHERE id = 2)`);
    json(await runCli(['user', 'add', 'd@example.com', '--key', canaryKey(), '--no-token', '--json'], env));
    await expectBroken(/the audit head is not authenticated/);
  });

  it('keeps no audit key in the database that could be deleted or swapped', async () => {
    const raw = new BetterSqlite3(join(temp.dir, 'soakp.db'));
    try {
      expect(raw.prepare('SELECT id FROM secrets').all()).toEqual([{ id: 'token-hash-key' }]);
      expect(String((raw.prepare('SELECT mac FROM audit_head').get() as { mac: string }).mac)).toMatch(/^v1:[0-9a-f]{64}$/);
    } finally {
      raw.close();
    }
  });

  it('keeps the chain verifiable across a master-key rotation (the head is signed under the newest version)', async () => {
    const keyring = `1:${env.SOAKP_MASTER_KEY},2:${randomMasterKey()}`;
    json(await runCli(['vault', 'rotate', '--json'], { ...env, SOAKP_MASTER_KEY: keyring }));
    const v2only = { ...env, SOAKP_MASTER_KEY: `2:${keyring.split(',')[1]?.slice(2)}` };
    expect(json(await runCli(['audit', 'verify', '--json'], v2only))).toEqual({ ok: true, count: 4 });
  });
});
