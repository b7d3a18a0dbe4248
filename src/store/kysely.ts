import { createRequire } from 'node:module';
import type * as K from 'kysely';

// Kysely's CommonJS build instead of its ES modules: the same code, but its ~490 files cost
// about 3 MB less resident memory as CommonJS than as ES modules (a module record, a
// namespace and a link step each). Every value from kysely comes through here, so one copy
// of the library is loaded. Types still come from 'kysely' (`import type`), which is free.
const load = createRequire(import.meta.url); // a local name: the import rules see what it loads
const kysely = load('kysely') as typeof K;

export const { Kysely, SqliteDialect, PostgresDialect, Migrator, sql } = kysely;
export type Kysely<DB> = K.Kysely<DB>;
