import { type Policy, isEmptyPolicy } from '../domain/index.js';
import type { User } from '../domain/index.js';
import type { Accounts } from './accounts.js';

/**
 * A user's policy: limits and budgets on all their traffic, default scopes for their tokens.
 * `change` is laid over the current policy by the caller (merge) or replaces it (clear).
 * Takes effect on running servers within a second (the store's change signal).
 */
export async function setUserPolicy(accounts: Accounts, email: string, next: (current: Policy) => Policy): Promise<{ user: User; policy: Policy }> {
  const user = await accounts.user(email);
  const policy = next(user.policy ?? {});
  await accounts.deps.store.users.setPolicy(user.id, isEmptyPolicy(policy) ? {} : policy);
  await accounts.audit('user.policy', user.id, { user: user.email, policy });
  return { user, policy };
}
