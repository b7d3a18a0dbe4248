import { normaliseEmail, validateUpstreamKey } from '../domain/index.js';
import { SoakpError, isSoakpError } from '../shared/index.js';
import type { Accounts } from './accounts.js';

export interface ImportEntry {
  email: string;
  key: string;
  upstream?: string;
}

/** An entry as it will be created: email normalised, key and upstream name checked. */
export interface CheckedEntry {
  email: string;
  key: string;
  upstream: string;
}

/**
 * Bulk users from `[{"email", "key", "upstream"?}]`. Every entry is checked first and every
 * problem reported at once; then all users are created in one transaction, or none.
 * Imported users get no token: issue them with `soakp token issue` when they are handed out.
 */
export async function importUsers(accounts: Accounts, data: unknown): Promise<string[]> {
  if (!Array.isArray(data)) throw new SoakpError('invalid_request', 'The import file must hold a JSON array of {"email", "key", "upstream"?}.');
  const problems: string[] = [];
  const seen = new Set<string>();
  const entries: CheckedEntry[] = [];
  for (const [i, raw] of data.entries()) {
    try {
      const e = raw as Partial<ImportEntry>;
      if (typeof e !== 'object' || e === null || typeof e.email !== 'string' || typeof e.key !== 'string') {
        throw new SoakpError('invalid_request', 'needs "email" and "key" strings');
      }
      const extra = Object.keys(e).filter((k) => !['email', 'key', 'upstream'].includes(k));
      if (extra.length > 0) throw new SoakpError('invalid_request', `unknown field(s) ${extra.join(', ')}`);
      entries.push(await checkEntry(accounts, seen, e.email, e.key, e.upstream));
    } catch (err) {
      if (!isSoakpError(err)) throw err;
      problems.push(`entry ${i + 1}: ${err.message}`);
    }
  }
  return createAll(accounts, entries, problems);
}

/** One new user: a new address (newEmail), a valid key, a known upstream. */
async function checkEntry(accounts: Accounts, seen: Set<string>, rawEmail: string, key: string, upstream: string | undefined): Promise<CheckedEntry> {
  const email = await newEmail(accounts, seen, rawEmail);
  return { email, key: validateUpstreamKey(key), upstream: accounts.upstreamName(upstream) };
}

/** The address of a new user: valid, not seen earlier in the batch (added to `seen`), not in the store. */
export async function newEmail(accounts: Accounts, seen: Set<string>, rawEmail: string): Promise<string> {
  const email = normaliseEmail(rawEmail);
  if (seen.has(email)) throw new SoakpError('invalid_request', `${email} appears twice`);
  seen.add(email);
  if (await accounts.deps.store.users.byEmail(email)) throw new SoakpError('user_exists', `${email} already exists`);
  return email;
}

/**
 * With any problem, nothing: they are all reported in one error. Otherwise every entry is
 * created in one transaction, and the import recorded once, after it has committed.
 */
export async function createAll(accounts: Accounts, entries: CheckedEntry[], problems: string[], details: Record<string, unknown> = {}): Promise<string[]> {
  if (problems.length > 0) throw new SoakpError('invalid_request', `Nothing was imported:\n  - ${problems.join('\n  - ')}`);
  await accounts.deps.store.transaction(async (tx) => {
    for (const e of entries) await accounts.createIn(tx, e.email, e.key, e.upstream);
  });
  const emails = entries.map((e) => e.email);
  await accounts.audit('user.import', null, { count: emails.length, emails, ...details });
  return emails;
}
