import { randomBytes } from 'node:crypto';

/** Opaque, sortable-enough ids with a type prefix (`usr_…`, `tok_…`): safe to log and show. */
export function newId(prefix: 'usr' | 'tok' | 'key' | 'sec'): string {
  return `${prefix}_${randomBytes(12).toString('base64url')}`;
}
