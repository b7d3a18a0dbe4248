import type { Kysely } from 'kysely';
import { SoakpError } from '../shared/index.js';
import type { Store } from './ports.js';
import type { Database } from './schema.js';

/** A SQL store's database handle, for whole-table work (`store copy`) that no repository does. */
export interface SqlAccess {
  readonly db: Kysely<Database>;
  readonly dialect: 'sqlite' | 'postgres';
}

// Kept beside the Store rather than on its interface: the ports stay about records, and only
// code inside src/store/ reaches the tables themselves.
const handles = new WeakMap<Store, SqlAccess>();

export function exposeSql(store: Store, access: SqlAccess): void {
  handles.set(store, access);
}

export function sqlOf(store: Store): SqlAccess {
  const access = handles.get(store);
  if (!access) throw new SoakpError('invalid_request', 'This store has no SQL tables to copy.');
  return access;
}
