import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { randomMasterKey, tempDir } from '../helpers/temp.js';

describe('the database URL on the command line', () => {
  it('never shows a PostgreSQL password: not in config check, not when the database cannot be reached', async () => {
    const temp = tempDir();
    try {
      // Port 1 on loopback: nothing listens there, so the connection is refused at once.
      const env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_DATABASE_URL: 'postgres://soakp:hunter2-secret@127.0.0.1:1/soakp?sslmode=disable' };
      const check = await runCli(['config', 'check', '--json'], env);
      expect(check.code, check.stderr).toBe(0);
      expect(check.stdout).toContain('postgres://soakp:***@127.0.0.1:1/soakp');
      const list = await runCli(['user', 'list'], env);
      expect(list.code).not.toBe(0);
      expect(list.stderr).toContain('The database 127.0.0.1:1/soakp is unavailable');
      for (const out of [check.stdout, check.stderr, list.stdout, list.stderr]) expect(out).not.toContain('hunter2');
    } finally {
      temp.cleanup();
    }
  });
});
