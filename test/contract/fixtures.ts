import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach } from 'vitest';
import type { SealedSecret, TokenRecord, UpstreamKey, User } from '../../src/domain/types.js';
import type { Store } from '../../src/store/ports.js';

/** What a store implementation hands the contract suite: a fresh, empty store per test. */
export interface StoreUnderTest {
  store: Store;
  /** Closes the store (if still open) and removes whatever the factory created. */
  cleanup: () => Promise<void>;
  /** Another, independent connection to the same database ("a second process"). */
  openPeer?: () => Promise<Store>;
}

export type OpenStoreUnderTest = () => Promise<StoreUnderTest>;

export interface ContractContext {
  readonly store: Store;
  readonly canOpenPeer: boolean;
  /** Opens a peer that the suite closes after the test; throws when the factory has none. */
  openPeer(): Promise<Store>;
}

/** Registers hooks giving each test its own store; the returned object reads the current one. */
export function freshStorePerTest(open: OpenStoreUnderTest): ContractContext {
  let current: StoreUnderTest | undefined;
  let peers: Store[] = [];
  beforeEach(async () => {
    current = await open();
  });
  afterEach(async () => {
    const opened = peers;
    peers = [];
    const under = current;
    current = undefined;
    try {
      for (const peer of opened) await peer.close();
    } finally {
      await under?.cleanup();
    }
  });
  const now = (): StoreUnderTest => {
    if (!current) throw new Error('No store is open: use the context inside a test.');
    return current;
  };
  return {
    get store() {
      return now().store;
    },
    get canOpenPeer() {
      return now().openPeer !== undefined;
    },
    async openPeer() {
      const openPeer = now().openPeer;
      if (!openPeer) throw new Error('This store factory gives no openPeer.');
      const peer = await openPeer();
      peers.push(peer);
      return peer;
    },
  };
}

const uniq = (): string => randomUUID().replaceAll('-', '').slice(0, 16);

/** Every byte value, in an order that starts and ends with 0x00 and holds 0xff in the middle. */
export const ALL_BYTES = Buffer.from([0x00, ...Array.from({ length: 256 }, (_, i) => (i * 7 + 1) % 256), 0x00]);

export function sealed(overrides: Partial<SealedSecret> = {}): SealedSecret {
  return {
    masterVersion: 1,
    wrappedKey: Buffer.from([0x00, 0xff, 0x00, 0x01, 0xfe, 0x00]),
    ciphertext: Buffer.from([0xff, 0x00, 0x00, 0x7f, 0x80, 0xff]),
    ...overrides,
  };
}

export function aUser(overrides: Partial<User> = {}): User {
  const id = `usr_${uniq()}`;
  return { id, email: `${id}@example.test`, status: 'active', createdAt: 1_760_000_000_123, ...overrides };
}

export function aKey(userId: string, overrides: Partial<UpstreamKey> = {}): UpstreamKey {
  return {
    id: `key_${uniq()}`,
    userId,
    upstream: 'openai',
    hint: 'sk-…a1b2',
    sealed: sealed(),
    updatedAt: 1_760_000_000_456,
    ...overrides,
  };
}

export function aToken(overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id: `tok_${uniq()}`,
    kind: 'personal',
    userId: null,
    name: 'laptop',
    displayPrefix: 'sk-soakp-Xy3',
    hash: Buffer.from(randomUUID().replaceAll('-', '').repeat(2), 'hex'),
    createdAt: 1_760_000_000_789,
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
    options: {},
    ...overrides,
  };
}

/**
 * Resolves on the first listener call after which `check` holds; rejects after `timeoutMs`.
 * Call it before making the change, then make the change, then await the result. Checking
 * on each call (rather than resolving on any call) keeps a late notice of an earlier change
 * from passing for the one under test.
 */
export function nextChange(store: Store, check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let unsubscribe: () => void = () => undefined;
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      if (err === undefined) resolve();
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    const timer = setTimeout(
      () => finish(new Error(`onChange did not report the change within ${timeoutMs} ms`)),
      timeoutMs,
    );
    unsubscribe = store.onChange(() => {
      check().then((ok) => {
        if (ok) finish();
      }, finish);
    });
  });
}
