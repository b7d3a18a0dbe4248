import { describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/open.js';
import { freshSchema, postgresAvailable } from '../helpers/postgres.js';
import { describeStoreContract } from './store-contract.js';

const available = await postgresAvailable('store contract: PostgreSQL');

describe.runIf(available)('PostgreSQL', () => {
  describeStoreContract('PostgreSQL', async () => {
    const { url, drop } = await freshSchema();
    try {
      const store = await openPostgresStore({ url });
      return {
        store,
        openPeer: () => openPostgresStore({ url }),
        cleanup: async () => {
          try {
            await store.close();
          } finally {
            await drop();
          }
        },
      };
    } catch (err) {
      await drop();
      throw err;
    }
  });

  it('migrates once when several instances open a new database together (advisory lock)', async () => {
    const { url, drop } = await freshSchema();
    try {
      const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore({ url })));
      try {
        const applied = stores.map((s) => s.migrated ?? []);
        const total = applied.reduce((n, list) => n + list.length, 0);
        expect(total).toBe(Math.max(...applied.map((l) => l.length)));
        expect(applied.filter((l) => l.length > 0)).toHaveLength(1);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    } finally {
      await drop();
    }
  });

  it('migrates in its own schema while another schema of the database has Kysely\'s migration tables', async () => {
    const first = await freshSchema();
    const second = await freshSchema();
    try {
      const a = await openPostgresStore({ url: first.url });
      try {
        const b = await openPostgresStore({ url: second.url });
        expect(b.migrated?.length).toBe(a.migrated?.length);
        await b.close();
      } finally {
        await a.close();
      }
    } finally {
      await first.drop();
      await second.drop();
    }
  });
});
