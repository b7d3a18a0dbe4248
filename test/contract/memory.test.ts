import { describe, expect, it } from 'vitest';
import { openMemoryStore } from '../../src/store/sqlite/open.js';
import { openStore } from '../../src/store/index.js';
import { runCli } from '../helpers/cli.js';
import { randomMasterKey, tempDir } from '../helpers/temp.js';
import { aUser } from './fixtures.js';
import { describeStoreContract } from './store-contract.js';

// One process, one connection: there is no peer to open, so the cross-process cases skip.
describeStoreContract('memory', async () => {
  const store = await openMemoryStore();
  return { store, cleanup: () => store.close() };
});

describe('memory: store', () => {
  it('is chosen by --database-url memory:, and each one starts empty', async () => {
    const a = await openStore({ dataDir: '/nonexistent', databaseUrl: 'memory:' });
    const b = await openStore({ dataDir: '/nonexistent', databaseUrl: 'MEMORY:' });
    try {
      await a.users.create(aUser({ email: 'only-in-a@example.com' }));
      expect(await b.users.byEmail('only-in-a@example.com')).toBeUndefined();
      expect(await a.users.byEmail('only-in-a@example.com')).toBeDefined();
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('warns that everything is lost at exit; another process has a store of its own', async () => {
    const temp = tempDir();
    try {
      const env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_DATABASE_URL: 'memory:' };
      const r = await runCli(['user', 'add', 'm@example.com', '--key', 'sk-memory-0123456789abcdef', '--no-token'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('lost when this process exits');
      const listed = await runCli(['user', 'list', '--json'], env);
      expect(listed.stdout.trim()).toBe('[]'); // another process: another, empty store
    } finally {
      temp.cleanup();
    }
  });
});
