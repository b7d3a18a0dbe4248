import { type Kysely, sql } from 'kysely';
import { SoakpError } from '../shared/index.js';
import type { MasterKeyRepo, Repos, SecretRepo, TokenRepo, UpstreamKeyRepo, UserRepo } from './ports.js';
import { fromKey, fromToken, isUniqueViolation, toKey, toToken, toUser } from './rows.js';
import type { Database } from './schema.js';
import { auditRepo, budgetRepo, usageRepo } from './ledger-repos.js';
import { certificateRepo, leaseRepo } from './certificate-repos.js';

/** The repositories over any Kysely database (or transaction) with soakp's schema. */
export function sqlRepos(db: Kysely<Database>, changed: () => void = () => {}): Repos {
  return {
    users: notifying(users(db), changed, ['create', 'setStatus', 'delete', 'setPolicy']),
    keys: notifying(keys(db), changed, ['put', 'rewrap']),
    tokens: tokensNotifying(tokens(db), changed),
    secrets: notifying(secrets(db), changed, ['insert', 'put', 'rewrap']),
    masterKeys: notifying(masterKeys(db), changed, ['insert']),
    usage: usageRepo(db), budgets: budgetRepo(db), audit: auditRepo(db),
    certificates: notifying(certificateRepo(db), changed, ['saveIssued', 'requestRenewal']),
    leases: leaseRepo(db),
  };
}

function users(db: Kysely<Database>): UserRepo {
  return {
    async create(u) {
      try {
        await db.insertInto('users').values({ id: u.id, email: u.email, status: u.status, created_at: u.createdAt }).execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new SoakpError('user_exists', `A user with email ${u.email} already exists.`);
        throw err;
      }
    },
    byEmail: async (email) => opt(await db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst(), toUser),
    byId: async (id) => opt(await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst(), toUser),
    list: async () => (await db.selectFrom('users').selectAll().orderBy('email').execute()).map(toUser),
    async setStatus(id, status) {
      const r = await db.updateTable('users').set({ status }).where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    async setPolicy(id, policy) {
      const r = await db.updateTable('users').set({ policy: JSON.stringify(policy) }).where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    async delete(id) {
      // Explicit deletes as well as ON DELETE CASCADE: SQLite enforces cascades only with foreign_keys on.
      await db.deleteFrom('tokens').where('user_id', '=', id).execute();
      await db.deleteFrom('upstream_keys').where('user_id', '=', id).execute();
      const r = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
  };
}

function keys(db: Kysely<Database>): UpstreamKeyRepo {
  return {
    async put(k) {
      const row = fromKey(k);
      await db
        .insertInto('upstream_keys')
        .values(row)
        .onConflict((oc) =>
          oc.columns(['user_id', 'upstream']).doUpdateSet({
            id: row.id, hint: row.hint, master_version: row.master_version,
            wrapped_key: row.wrapped_key, ciphertext: row.ciphertext, updated_at: row.updated_at,
          }),
        )
        .execute();
    },
    get: async (userId, upstream) =>
      opt(
        await db.selectFrom('upstream_keys').selectAll().where('user_id', '=', userId).where('upstream', '=', upstream).executeTakeFirst(),
        toKey,
      ),
    listForUser: async (userId) =>
      (await db.selectFrom('upstream_keys').selectAll().where('user_id', '=', userId).orderBy('upstream').execute()).map(toKey),
    all: async () => (await db.selectFrom('upstream_keys').selectAll().orderBy('id').execute()).map(toKey),
    versionsInUse: async () => (await db.selectFrom('upstream_keys').select('master_version').distinct().execute()).map((r) => Number(r.master_version)),
    async rewrap(id, s) {
      await db.updateTable('upstream_keys').set({ master_version: s.masterVersion, wrapped_key: s.wrappedKey }).where('id', '=', id).execute();
    },
  };
}

/**
 * Token writes report a change, except those no cache can hold: a new ephemeral token (a web
 * app mints one per page: each would empty every server's caches) and a sweep that deleted
 * nothing. A new token is never in a cache (failed lookups are not cached).
 */
function tokensNotifying(repo: TokenRepo, changed: () => void): TokenRepo {
  return {
    ...notifying(repo, changed, ['revoke']),
    async insert(t) {
      await repo.insert(t);
      if (t.kind !== 'ephemeral') changed();
    },
    async deleteExpired(kind, before) {
      const n = await repo.deleteExpired(kind, before);
      if (n > 0) changed();
      return n;
    },
  };
}

function tokens(db: Kysely<Database>): TokenRepo {
  return {
    async insert(t) {
      await db.insertInto('tokens').values(fromToken(t)).execute();
    },
    byHash: async (hash) => opt(await db.selectFrom('tokens').selectAll().where('hash', '=', hash).executeTakeFirst(), toToken),
    byId: async (id) => opt(await db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst(), toToken),
    async list({ userId, kinds }) {
      let q = db.selectFrom('tokens').selectAll();
      if (userId !== undefined) q = q.where('user_id', '=', userId);
      if (kinds && kinds.length > 0) q = q.where('kind', 'in', kinds);
      return (await q.orderBy('created_at').orderBy('id').execute()).map(toToken);
    },
    async revoke(id, at) {
      const r = await db.updateTable('tokens').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
      // The ephemeral tokens a minting token made end with it (options is JSON text: `"parent":"<id>"`).
      await db
        .updateTable('tokens')
        .set({ revoked_at: at })
        .where('kind', '=', 'ephemeral')
        .where('revoked_at', 'is', null)
        .where(sql<boolean>`options like ${`%${JSON.stringify({ parent: id }).slice(1, -1).replace(/[\\%_]/g, '\\$&')}%`} escape '\\'`)
        .execute();
      return Number(r.numUpdatedRows) > 0;
    },
    async touch(id, at) {
      await db
        .updateTable('tokens')
        .set({ last_used_at: at })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', at)]))
        .execute();
    },
    async countByUser() {
      const rows = await db
        .selectFrom('tokens')
        .select(['user_id', (eb) => eb.fn.countAll<number>().as('n')])
        .where('kind', '=', 'personal')
        .where('revoked_at', 'is', null)
        .groupBy('user_id')
        .execute();
      return new Map(rows.filter((r) => r.user_id !== null).map((r) => [r.user_id as string, Number(r.n)]));
    },
    async originBound(at) {
      const rows = await db
        .selectFrom('tokens')
        .selectAll()
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', at)]))
        // A first filter in SQL (options is JSON text in every store); the parsed options decide.
        .where('options', 'like', '%"origins"%')
        // A disabled user's tokens open nothing.
        .where((eb) => eb.or([eb('user_id', 'is', null), eb('user_id', 'in', eb.selectFrom('users').select('id').where('status', '=', 'active'))]))
        .execute();
      return rows.map(toToken).filter((t) => Array.isArray(t.options.origins) && t.options.origins.length > 0);
    },
    async deleteExpired(kind, before) {
      const r = await db.deleteFrom('tokens').where('kind', '=', kind).where('expires_at', 'is not', null).where('expires_at', '<', before).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

function secrets(db: Kysely<Database>): SecretRepo {
  const toSealed = (r: { master_version: number; wrapped_key: Buffer; ciphertext: Buffer }) => ({
    masterVersion: r.master_version, wrappedKey: Buffer.from(r.wrapped_key), ciphertext: Buffer.from(r.ciphertext),
  });
  return {
    get: async (id) => opt(await db.selectFrom('secrets').selectAll().where('id', '=', id).executeTakeFirst(), toSealed),
    async insert(id, s) {
      const r = await db
        .insertInto('secrets')
        .values({ id, master_version: s.masterVersion, wrapped_key: s.wrappedKey, ciphertext: s.ciphertext })
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
    },
    async put(id, s) {
      const values = { master_version: s.masterVersion, wrapped_key: s.wrappedKey, ciphertext: s.ciphertext };
      await db.insertInto('secrets').values({ id, ...values }).onConflict((oc) => oc.column('id').doUpdateSet(values)).execute();
    },
    all: async () => (await db.selectFrom('secrets').selectAll().orderBy('id').execute()).map((r) => ({ id: r.id, sealed: toSealed(r) })),
    versionsInUse: async () => (await db.selectFrom('secrets').select('master_version').distinct().execute()).map((r) => Number(r.master_version)),
    async rewrap(id, s) {
      await db.updateTable('secrets').set({ master_version: s.masterVersion, wrapped_key: s.wrappedKey }).where('id', '=', id).execute();
    },
  };
}

function masterKeys(db: Kysely<Database>): MasterKeyRepo {
  return {
    list: async () =>
      (await db.selectFrom('master_keys').select(['version', 'check_value']).orderBy('version').execute()).map((r) => ({
        version: r.version, checkValue: r.check_value,
      })),
    async insert(version, checkValue, at) {
      const r = await db
        .insertInto('master_keys')
        .values({ version, check_value: checkValue, created_at: at })
        .onConflict((oc) => oc.column('version').doNothing())
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
    },
  };
}

function opt<R, T>(row: R | undefined, map: (r: R) => T): T | undefined {
  return row === undefined ? undefined : map(row);
}

/** Wraps the named write methods so each reports a change to cached data once it has run. */
function notifying<R extends object>(repo: R, changed: () => void, writes: Array<keyof R>): R {
  const out = { ...repo };
  for (const name of writes) {
    const method = repo[name] as unknown as (...args: unknown[]) => Promise<unknown>;
    (out as Record<keyof R, unknown>)[name] = async (...args: unknown[]) => {
      const result = await method(...args);
      changed();
      return result;
    };
  }
  return out;
}
