import { describe } from 'vitest';
import { budgetHoldsContract } from './budget-holds-contract.js';
import { certificatesContract, challengesContract } from './certificates-contract.js';
import { freshStorePerTest, type OpenStoreUnderTest } from './fixtures.js';
import { keysContract } from './keys-contract.js';
import { ledgerContract } from './ledger-contract.js';
import { secretsContract } from './secrets-contract.js';
import { concurrencyContract, lifecycleContract, transactionContract } from './store-level-contract.js';
import { tokensContract } from './tokens-contract.js';
import { usersContract } from './users-contract.js';

export type { OpenStoreUnderTest, StoreUnderTest } from './fixtures.js';

/**
 * The store contract: checks exactly the MUST sentences of src/store/ports.ts, nothing about
 * how an implementation keeps its data, so every store (SQLite now, PostgreSQL later) runs it
 * unchanged — the idea of oauth2-proxy's `RunSessionStoreTests`.
 *
 * `open` MUST give a fresh, empty store on every call; its `cleanup` closes it and removes what
 * it made. With `openPeer` (a second, independent connection to the same database) the
 * cross-process cases run too; without it they are skipped with a note.
 */
export function describeStoreContract(name: string, open: OpenStoreUnderTest): void {
  describe(`store contract: ${name}`, () => {
    const t = freshStorePerTest(open);
    usersContract(t);
    keysContract(t);
    tokensContract(t);
    secretsContract(t);
    certificatesContract(t);
    challengesContract(t);
    ledgerContract(t);
    budgetHoldsContract(t);
    transactionContract(t);
    concurrencyContract(t);
    lifecycleContract(t);
  });
}
