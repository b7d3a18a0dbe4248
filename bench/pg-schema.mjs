// A fresh PostgreSQL schema for a bench run, so that runs never see each other's tables.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './children.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Makes a schema (dropped at exit unless `keep`); resolves with `base` whose search_path names it. */
export async function benchSchema(base, { prefix = 'soakp_bench', keep = false } = {}) {
  const { default: pg } = await import('pg');
  const schema = `${prefix}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: base });
  await client.connect();
  try {
    await client.query(`create schema ${schema}`);
  } finally {
    await client.end();
  }
  // Cleanup runs synchronously at exit: the drop goes through a child node that waits for it.
  const drop = `import pg from 'pg'; const c = new pg.Client({ connectionString: process.argv[1] }); await c.connect(); await c.query('drop schema if exists ${schema} cascade'); await c.end();`;
  if (!keep) onCleanup(() => execFileSync(process.execPath, ['--input-type=module', '-e', drop, base], { cwd: ROOT, stdio: 'ignore' }));
  const url = new URL(base);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}
