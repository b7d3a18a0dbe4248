import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SealedSecret } from '../domain/index.js';
import { Secret, createLogger } from '../shared/index.js';
import { type LocalCaDeps, loadOrCreateLocalCa, localCaSource } from './local-ca.js';

/** A store and vault in memory; "sealing" is a tagged copy (the real vault is tested in vault/). */
function deps(dataDir: string): LocalCaDeps & { sealedIds: string[] } {
  const secrets = new Map<string, SealedSecret>();
  const sealedIds: string[] = [];
  return {
    sealedIds,
    dataDir,
    logger: createLogger('silent'),
    store: {
      secrets: {
        get: async (id) => secrets.get(id),
        insert: async (id, sealed) => (secrets.has(id) ? false : (secrets.set(id, sealed), true)),
        all: async () => [...secrets].map(([id, sealed]) => ({ id, sealed })),
        versionsInUse: async () => [...new Set([...secrets.values()].map((s) => s.masterVersion))],
        rewrap: async () => undefined,
      },
    },
    vault: {
      sealInternal: (id, plain) => (sealedIds.push(id), { plain: Buffer.from(plain) } as unknown as SealedSecret),
      openInternal: (_id, sealed) => new Secret((sealed as unknown as { plain: Buffer }).plain),
    },
  };
}

describe('the local CA', () => {
  const dir = mkdtempSync(join(tmpdir(), 'soakp-ca-'));
  afterEach(() => vi.useRealTimers());

  it('is created once and sealed; later loads return the same CA', async () => {
    const d = deps(dir);
    const first = await loadOrCreateLocalCa(d);
    const again = await loadOrCreateLocalCa(d);
    expect(again.cert).toBe(first.cert);
    expect(d.sealedIds).toEqual(['tls-local-ca']);
    expect(new X509Certificate(first.cert).ca).toBe(true);
    rmSync(join(dir, 'local-ca.pem'));
  });

  it('renews the leaf 10 days before it expires and says so', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const source = await localCaSource(['a.test'], deps(dir));
    const first = source.current();
    expect(first.notAfter.getTime() - Date.now()).toBeGreaterThan(29 * 86_400_000);
    const changed = vi.fn();
    source.onChange(changed);
    vi.advanceTimersByTime(19 * 86_400_000);
    expect(changed).not.toHaveBeenCalled();
    vi.advanceTimersByTime(2 * 86_400_000);
    expect(changed).toHaveBeenCalledOnce();
    expect(source.current().serial).not.toBe(first.serial);
    expect(new X509Certificate(source.current().cert).subjectAltName).toBe('DNS:a.test');
    source.close();
  });
});
