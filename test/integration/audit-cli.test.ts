import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3-multiple-ciphers';
import Fastify from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Accounts } from '../../src/admin/accounts.js';
import { adminRoutes } from '../../src/admin/routes.js';
import { openRuntime, servicesOf } from '../../src/main.js';
import { AuditLog } from '../../src/audit/index.js';
import { createLogger } from '../../src/shared/logger.js';
import { json, runCli } from '../helpers/cli.js';
import { canaryKey, tempDir } from '../helpers/temp.js';

interface Shown {
  id: number;
  actor: string;
  action: string;
  target: string | null;
  source: string | null;
  details: Record<string, unknown>;
}

describe('soakp audit: every control-plane change, hash-chained', () => {
  let temp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;

  // A generated (file) keyring, so that `vault rotate` can add a version.
  beforeEach(() => {
    temp = tempDir();
    env = { SOAKP_DATA_DIR: temp.dir };
  });
  afterEach(() => temp.cleanup());

  it('records who did what, never a secret, and verify catches an edited entry', async () => {
    const [key1, key2, key3] = [canaryKey(), canaryKey(), canaryKey()];
    const jwtSecret = `jwt-secret-${canaryKey()}`;
    const added = json<{ token: string; tokenId: string }>(await runCli(['user', 'add', 'a@example.com', '--key-stdin', '--json'], env, key1));
    json(await runCli(['key', 'set', 'a@example.com', '--key-stdin', '--json'], env, key2));
    const issued = json<{ token: string; tokenId: string }>(await runCli(['token', 'issue', 'a@example.com', '--name', 'laptop', '--json'], env));
    json(await runCli(['token', 'revoke', issued.tokenId, '--json'], env));
    json(await runCli(['user', 'disable', 'a@example.com', '--json'], env));
    const owui = json<{ token: string; tokenId: string }>(await runCli(['openwebui', 'connect', '--jwt-secret-stdin', '--json'], env, jwtSecret));
    const admin = json<{ token: string; tokenId: string }>(await runCli(['admin', 'token', '--json'], env));
    const file = join(temp.dir, 'import.json');
    writeFileSync(file, JSON.stringify([{ email: 'b@example.com', key: key3 }]));
    json(await runCli(['import', file, '--json'], env));
    json(await runCli(['vault', 'rotate', '--json'], env));

    const listed = await runCli(['audit', 'list', '--json'], env);
    const entries = json<Shown[]>(listed);
    expect(entries.map((e) => e.action)).toEqual([
      'user.add', 'token.issue', 'key.set', 'token.issue', 'token.revoke', 'user.disable', 'openwebui.connect', 'admin-token.issue', 'user.import', 'vault.rotate',
    ]);
    expect(entries.map((e) => e.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const e of entries) expect(e).toMatchObject({ actor: `cli:${userInfo().username}`, source: 'cli' });
    expect(entries[0]).toMatchObject({ target: 'a@example.com', details: { upstream: 'default', keyHint: `sk-…${key1.slice(-4)}` } });
    expect(entries[2]).toMatchObject({ target: 'a@example.com', details: { keyHint: `sk-…${key2.slice(-4)}` } });
    expect(entries[3]).toMatchObject({ target: issued.tokenId, details: { user: 'a@example.com', name: 'laptop' } });
    expect(entries[4]?.target).toBe(issued.tokenId);
    expect(entries[6]).toMatchObject({ target: owui.tokenId, details: { jwt: true } });
    expect(entries[7]?.target).toBe(admin.tokenId);
    expect(entries[8]?.details).toEqual({ count: 1, emails: ['b@example.com'] });
    expect(entries[9]?.details).toMatchObject({ version: 2 });

    // No secret anywhere: not in the listing, not in the table, not in the database file.
    const masterKeys = readFileSync(join(temp.dir, 'master.key'), 'utf8').trim().split('\n').map((l) => l.split(':')[1] as string);
    const secrets = [key1, key2, key3, jwtSecret, added.token, issued.token, owui.token, admin.token, ...masterKeys];
    const table = await runCli(['audit', 'list'], env);
    expect(table.stdout).toContain('user.add');
    for (const s of secrets) {
      expect(listed.stdout).not.toContain(s);
      expect(table.stdout).not.toContain(s);
      expect(readFileSync(join(temp.dir, 'soakp.db')).includes(s)).toBe(false);
    }

    const limited = json<Shown[]>(await runCli(['audit', 'list', '--limit', '2', '--json'], env));
    expect(limited.map((e) => e.id)).toEqual([9, 10]);
    expect((await runCli(['audit', 'list', '--limit', 'x'], env)).code).toBe(2);

    const intact = await runCli(['audit', 'verify'], env);
    expect(intact.code).toBe(0);
    expect(intact.stdout).toContain('Audit chain intact: 10 entries');

    const raw = new BetterSqlite3(join(temp.dir, 'soakp.db'));
    try {
      raw.prepare(`UPDATE audit_log SET actor = 'evil' WHERE id = 2`).run();
    } finally {
      raw.close();
    }
    const broken = await runCli(['audit', 'verify'], env);
    expect(broken.code).toBe(6);
    expect(broken.stderr).toMatch(/Audit chain broken at entry 2: .*edited/);
    const brokenJson = await runCli(['audit', 'verify', '--json'], env);
    expect(brokenJson.code).toBe(6);
    expect(JSON.parse(brokenJson.stdout)).toMatchObject({ ok: false, brokenAt: 2, count: 1 });
    expect(JSON.parse(brokenJson.stderr)).toMatchObject({ error: { code: 'audit_broken' } });
  });

  it('keeps one chain when several soakp processes change things at once', async () => {
    // Created first by one process: concurrent first opens race on the schema migration
    // (Kysely takes no migration lock on SQLite), which is the store's matter, not the chain's.
    expect((await runCli(['audit', 'verify'], env)).code).toBe(0);
    const emails = Array.from({ length: 6 }, (_, i) => `u${i}@example.com`);
    const runs = await Promise.all(emails.map((e) => runCli(['user', 'add', e, '--key', canaryKey(), '--no-token', '--json'], env)));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const verified = json<{ ok: boolean; count: number }>(await runCli(['audit', 'verify', '--json'], env));
    expect(verified).toEqual({ ok: true, count: 6 });
  });

  // The HTTP wiring is the server's; this drives the route itself with an audited Accounts.
  it('audits POST /api/keys as the admin token from the client address, and counts refusals', async () => {
    const rt = await openRuntime({ env, logger: createLogger('silent') });
    const auditor = new AuditLog(rt.store.audit, rt.vault.nextAuditHeadMac, rt.logger);
    const app = Fastify();
    try {
      const accounts = new Accounts({ ...servicesOf(rt), auditor, actor: 'server', source: null });
      const admin = await accounts.issueAdminToken();
      await app.register(async (scope) => adminRoutes(scope, accounts));
      const key = canaryKey();
      const saved = await app.inject({ method: 'POST', url: '/api/keys', headers: { authorization: `Bearer ${admin.token.reveal()}` }, payload: { key, email: 'c@example.com' } });
      expect(saved.statusCode).toBe(201);
      for (let i = 0; i < 5; i++) {
        await app.inject({ method: 'POST', url: '/api/keys', headers: { authorization: 'Bearer sk-soakp-wrong' }, payload: { key } });
      }
      await auditor.flush();
      const entries = await rt.store.audit.list();
      expect(entries.map((e) => [e.actor, e.action, e.source])).toEqual([
        ['server', 'admin-token.issue', null],
        [`admin-token:${admin.record.id}`, 'user.add', '127.0.0.1'],
        [`admin-token:${admin.record.id}`, 'token.issue', '127.0.0.1'],
        ['admin-api', 'security.auth_failed', '127.0.0.1'],
      ]);
      expect(entries[3]?.details).toMatchObject({ count: 5, route: '/api/keys' });
      expect(JSON.stringify(entries)).not.toContain(key);
      expect(JSON.stringify(entries)).not.toContain(JSON.parse(saved.body).token);
    } finally {
      await app.close();
      await auditor.close();
      await rt.close();
    }
  });
});
