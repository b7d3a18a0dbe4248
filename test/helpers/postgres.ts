import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { SERVICES_REQUIRED } from './services.js';

/** The test database on this machine (trust auth); CI starts PostgreSQL where none answers. */
export const POSTGRES_URL = process.env.SOAKP_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** True when PostgreSQL answers; prints why a suite skips when it does not (CI fails instead). */
export async function postgresAvailable(suite: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2_000 });
  let ok = false;
  try {
    await client.connect();
    await client.query('select 1');
    ok = true;
  } catch {
    ok = false;
  } finally {
    await client.end().catch(() => undefined);
  }
  if (!ok && !SERVICES_REQUIRED) console.warn(`PostgreSQL at ${POSTGRES_URL} is not reachable: skipping "${suite}" (set SOAKP_TEST_REQUIRE_SERVICES=1 to fail instead).`);
  return ok || SERVICES_REQUIRED;
}

/**
 * A schema of its own in the test database, as a connection URL whose search_path points at
 * it: a fresh, empty store per test without creating databases. `drop` removes it whole.
 */
export async function freshSchema(): Promise<{ url: string; schema: string; drop(): Promise<void> }> {
  const schema = `soakp_t_${randomBytes(5).toString('hex')}`;
  await admin(`create schema ${schema}`);
  const url = new URL(POSTGRES_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { url: url.toString(), schema, drop: () => admin(`drop schema if exists ${schema} cascade`) };
}

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
