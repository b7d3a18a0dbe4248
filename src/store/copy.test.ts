import { afterEach, describe, expect, it } from 'vitest';
import { aKey, aToken, aUser, ALL_BYTES, sealed } from '../../test/contract/fixtures.js';
import { entryHash, verifyChain } from '../audit/index.js';
import { COPIED_TABLES, batches } from './copy-tables.js';
import { copyStore, holding } from './copy.js';
import { sql } from './kysely.js';
import type { Store } from './ports.js';
import { sqlOf } from './sql-access.js';
import { openMemoryStore } from './sqlite/open.js';

const mac = () => 'v1:' + 'ab'.repeat(32);
const stores: Store[] = [];
const open = async () => {
  const s = await openMemoryStore();
  stores.push(s);
  return s;
};
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

/** Rows in every table, with bytes of every value and more than one batch of usage and audit rows. */
async function populate(store: Store, audits = 7): Promise<void> {
  const user = aUser();
  await store.users.create(user);
  await store.users.setPolicy(user.id, { limits: { rpm: 5 } });
  await store.keys.put(aKey(user.id, { sealed: sealed({ ciphertext: ALL_BYTES }) }));
  await store.tokens.insert(aToken({ userId: user.id, hash: ALL_BYTES.subarray(0, 32), options: { origins: ['https://a.example'] } }));
  await store.secrets.insert('token-hash-key', sealed());
  await store.masterKeys.insert(1, 'check', 1);
  const row = { at: 1, userId: user.id, tokenId: 't', upstream: 'openai', model: null, endpoint: 'chat', status: 200, promptTokens: 1, completionTokens: 2, totalTokens: 3, costMicros: 4, durationMs: 5, bytesIn: 6, bytesOut: 7, source: 'reported' } as const;
  await store.usage.insertMany(Array.from({ length: 5 }, (_, i) => ({ ...row, at: i })));
  await store.budgets.reserve('user:u', 'd:1', { tokens: 10, micros: 20 }, {});
  for (let i = 0; i < audits; i++) await store.audit.append({ at: i, actor: 'cli:t', action: 'user.add', target: user.email, details: { i }, source: 'cli' }, entryHash, mac);
  await store.certificates.saveIssued('main', ['a.example'], { pem: 'PEM', serial: '01', issuer: 'CA', directory: 'https://ca', notBefore: 1, notAfter: 2, renewAt: 3 }, 4);
  await store.certificates.putChallenge('tok', 'auth', 9e12);
  await store.leases.acquire('acme-renew', 'me', 1, 9e12);
  // Three holds under one instance: paging by a three-column key crosses a batch of two.
  const db = sqlOf(store).db;
  await sql`insert into instances (id, heartbeat_at) values ('i1', 5)`.execute(db);
  await sql`insert into budget_holds (instance, scope, period, tokens, micros) values ('i1', 'user:u', 'd:1', 1, 2), ('i1', 'user:u', 'd:2', 3, 4), ('i1', 'user:v', 'd:1', 5, 6)`.execute(db);
}

async function dump(store: Store): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of COPIED_TABLES) {
    out[table.name] = [];
    for await (const rows of batches(sqlOf(store).db, table, 2)) out[table.name]?.push(...rows);
  }
  return out;
}

describe('copyStore', () => {
  it('knows every table a migrated database holds', async () => {
    const { rows } = await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name not like 'kysely_%'`.execute(sqlOf(await open()).db);
    expect(COPIED_TABLES.map((t) => t.name).sort()).toEqual(rows.map((r) => r.name).sort());
  });

  it('copies every row exactly, and the audit chain goes on where it ended', async () => {
    const [src, dst] = [await open(), await open()];
    await populate(src);
    const counts = await copyStore(src, dst, { batchSize: 2 });
    expect(counts).toMatchObject({ users: 1, tokens: 1, usage: 5, audit_log: 7, audit_head: 1, leases: 1, instances: 1, budget_holds: 3 });
    expect(await dump(dst)).toEqual(await dump(src));
    expect((await dst.tokens.byHash(ALL_BYTES.subarray(0, 32)))?.options).toEqual({ origins: ['https://a.example'] });
    const next = await dst.audit.append({ at: 9, actor: 'x', action: 'y', target: null, details: {}, source: null }, entryHash, mac);
    expect(next.id).toBe(8);
    expect(verifyChain(await dst.audit.list())).toEqual({ ok: true, count: 8 });
  });

  it('refuses a destination that holds data, and --replace copies over it with ids from the source', async () => {
    const [src, dst] = [await open(), await open()];
    await populate(src, 2);
    await populate(dst, 6);
    const before = await dump(dst);
    await expect(copyStore(src, dst)).rejects.toThrow(/already holds soakp data \(users: 1, .*audit_log: 6.*\); nothing was copied/);
    expect(await dump(dst)).toEqual(before);
    await copyStore(src, dst, { replace: true });
    expect(await dump(dst)).toEqual(await dump(src));
    // The counter went back down with the rows: the next entry follows the last one copied.
    expect((await dst.audit.append({ at: 9, actor: 'x', action: 'y', target: null, details: {}, source: null }, entryHash, mac)).id).toBe(3);
    expect(verifyChain(await dst.audit.list()).ok).toBe(true);
  });

  it('is all or nothing: a failure part-way leaves the destination empty', async () => {
    const [src, dst] = [await open(), await open()];
    await populate(src);
    await sql`create trigger refuse before insert on audit_log begin select raise(abort, 'disk full'); end`.execute(sqlOf(dst).db);
    await expect(copyStore(src, dst)).rejects.toThrow(/disk full/);
    expect(await holding(sqlOf(dst).db)).toEqual([]);
  });

  it('refuses databases at different schema versions, naming the migrations', async () => {
    const [src, dst] = [await open(), await open()];
    await populate(src);
    await sql`insert into kysely_migration (name, timestamp) values ('0099_future', 'now')`.execute(sqlOf(dst).db);
    await expect(copyStore(src, dst)).rejects.toThrow(/only the destination has 0099_future/);
    expect(await holding(sqlOf(dst).db)).toEqual([]);
  });
});
