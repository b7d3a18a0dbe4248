import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';

const problem = (flags: Parameters<typeof loadConfig>[0]): string => {
  try {
    loadConfig(flags, {});
  } catch (err) {
    return (err as Error).message;
  }
  return '';
};

describe('database settings', () => {
  it('takes SQLite paths, sqlite:, postgres://, postgresql:// and memory:', () => {
    for (const url of ['/srv/soakp.db', 'data/soakp.db', 'sqlite:/srv/soakp.db', 'postgres://u:p@db:5432/soakp?sslmode=verify-full', 'postgresql://db/soakp', 'memory:']) {
      expect(problem({ databaseUrl: url }), url).toBe('');
    }
  });

  it('refuses a store soakp does not have, and whole-file encryption off SQLite, without showing a password', () => {
    expect(problem({ databaseUrl: 'mysql://root:hunter2@db/soakp' })).toContain('"mysql:" is not a store soakp has');
    expect(problem({ databaseUrl: 'mysql://root:hunter2@db/soakp' })).not.toContain('hunter2');
    const pg = problem({ databaseUrl: 'postgres://u:hunter2@db/soakp', encryptDatabase: true });
    expect(pg).toContain('whole-file encryption (SQLCipher) is for SQLite files');
    expect(pg).not.toContain('hunter2');
    expect(problem({ databaseUrl: 'memory:', encryptDatabase: true })).toContain('is for SQLite files');
  });
});
