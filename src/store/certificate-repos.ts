import type { Kysely, Selectable } from 'kysely';
import type { CertificateRecord } from '../domain/index.js';
import type { CertificateRepo, LeaseRepo } from './ports.js';
import type { Database, TlsCertificatesTable } from './schema.js';

export function certificateRepo(db: Kysely<Database>): CertificateRepo {
  return {
    get: async (name) => {
      const row = await db.selectFrom('tls_certificates').selectAll().where('name', '=', name).executeTakeFirst();
      return row && toRecord(row);
    },
    list: async () => (await db.selectFrom('tls_certificates').selectAll().orderBy('name').execute()).map(toRecord),
    async saveIssued(name, domains, issued, at) {
      const values = {
        domains: JSON.stringify(domains), cert_pem: issued.pem, serial: issued.serial, issuer: issued.issuer, directory: issued.directory,
        not_before: issued.notBefore, not_after: issued.notAfter, renew_at: issued.renewAt,
        last_error: null, last_error_at: null, retry_at: null, failures: 0, renew_requested_at: null, updated_at: at,
      };
      await db.insertInto('tls_certificates').values({ name, ...values }).onConflict((oc) => oc.column('name').doUpdateSet(values)).execute();
    },
    async saveFailure(name, domains, failure) {
      const values = { last_error: failure.message, last_error_at: failure.at, retry_at: failure.retryAt, renew_requested_at: null, updated_at: failure.at };
      await db
        .insertInto('tls_certificates')
        .values({ name, domains: JSON.stringify(domains), ...values, failures: 1 })
        .onConflict((oc) => oc.column('name').doUpdateSet((eb) => ({ ...values, failures: eb('tls_certificates.failures', '+', 1) })))
        .execute();
    },
    async requestRenewal(name, at) {
      let query = db.updateTable('tls_certificates').set({ renew_requested_at: at });
      if (name !== undefined) query = query.where('name', '=', name);
      return (await query.returning('name').execute()).map((r) => r.name).sort();
    },
    async putChallenge(token, keyAuthorization, expiresAt) {
      const values = { key_authorization: keyAuthorization, expires_at: expiresAt };
      await db.insertInto('acme_challenges').values({ token, ...values }).onConflict((oc) => oc.column('token').doUpdateSet(values)).execute();
    },
    async challenge(token, now) {
      const row = await db.selectFrom('acme_challenges').select('key_authorization').where('token', '=', token).where('expires_at', '>', now).executeTakeFirst();
      return row?.key_authorization;
    },
    async deleteChallenge(token) {
      // Expired answers of orders that never cleaned up (a crash) go with it.
      await db.deleteFrom('acme_challenges').where((eb) => eb.or([eb('token', '=', token), eb('expires_at', '<=', Date.now())])).execute();
    },
  };
}

function toRecord(row: Selectable<TlsCertificatesTable>): CertificateRecord {
  const num = (v: number | null): number => Number(v);
  const issued = row.cert_pem === null ? undefined : {
    pem: row.cert_pem, serial: row.serial ?? '', issuer: row.issuer ?? '', directory: row.directory ?? '',
    notBefore: num(row.not_before), notAfter: num(row.not_after), renewAt: num(row.renew_at),
  };
  const lastError = row.last_error === null ? undefined : { message: row.last_error, at: num(row.last_error_at), retryAt: num(row.retry_at), failures: Number(row.failures) };
  return {
    name: row.name, domains: JSON.parse(row.domains) as string[], issued, lastError,
    renewRequestedAt: row.renew_requested_at === null ? undefined : num(row.renew_requested_at),
    updatedAt: num(row.updated_at),
  };
}

export function leaseRepo(db: Kysely<Database>): LeaseRepo {
  return {
    async acquire(name, holder, now, until) {
      // One statement: the row is taken only where it is free, expired or already ours, so two
      // processes racing for it cannot both win (the database serialises the upsert).
      const r = await db
        .insertInto('leases')
        .values({ name, holder, expires_at: until })
        .onConflict((oc) =>
          oc.column('name').doUpdateSet({ holder, expires_at: until }).where((eb) => eb.or([eb('leases.expires_at', '<=', now), eb('leases.holder', '=', holder)])),
        )
        .executeTakeFirst();
      return Number(r.numInsertedOrUpdatedRows ?? 0n) > 0;
    },
    async release(name, holder) {
      await db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
    },
  };
}
