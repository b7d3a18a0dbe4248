import { randomBytes } from 'node:crypto';
import { normaliseEmail, validateUpstreamKey } from '../domain/index.js';
import type { Accounts } from './accounts.js';
import type { IssuedToken } from './tokens.js';

export interface SaveKeyInput {
  key: string;
  upstream?: string | undefined;
  email?: string | undefined;
}

/**
 * SOAKP's save-key flow: store a key, get a personal token for it. With an email the key
 * goes to that user (created if new, replaced if not); without one a user is created under
 * a placeholder address in the reserved `.invalid` domain (RFC 2606), one per saved key.
 */
export async function saveKey(accounts: Accounts, input: SaveKeyInput): Promise<{ email: string; issued: IssuedToken }> {
  const key = validateUpstreamKey(input.key);
  const upstream = accounts.upstreamName(input.upstream);
  const email = input.email === undefined ? `key-${randomBytes(6).toString('hex')}@keys.soakp.invalid` : normaliseEmail(input.email);
  const existing = await accounts.deps.store.users.byEmail(email);
  if (!existing) {
    const { issued } = await accounts.addUser({ email, key, upstream, tokenName: 'saved-key' });
    return { email, issued: issued as IssuedToken };
  }
  await accounts.setKey(email, key, upstream);
  return { email, issued: await accounts.issueToken(email, { name: 'saved-key', upstream }) };
}
