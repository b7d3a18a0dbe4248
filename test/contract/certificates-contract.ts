import { describe, expect, it } from 'vitest';
import type { IssuedCertificate } from '../../src/domain/certificates.js';
import { type ContractContext, sealed } from './fixtures.js';

const issued = (serial: string, notAfter = 90_000): IssuedCertificate => ({
  pem: `-----BEGIN CERTIFICATE-----\n${serial}\n-----END CERTIFICATE-----\n`, serial, issuer: 'CN=Test CA', directory: 'https://ca.test/dir', notBefore: 1_000, notAfter, renewAt: 60_000,
});

export function certificatesContract(t: ContractContext): void {
  describe('secrets put', () => {
    it('inserts, then replaces the secret whole', async () => {
      const first = sealed({ masterVersion: 1, wrappedKey: Buffer.from([1]), ciphertext: Buffer.from([1, 1]) });
      const second = sealed({ masterVersion: 2, wrappedKey: Buffer.from([2]), ciphertext: Buffer.from([2, 2]) });
      await t.store.secrets.put('tls-cert-key:a.test', first);
      expect(await t.store.secrets.get('tls-cert-key:a.test')).toEqual(first);
      await t.store.secrets.put('tls-cert-key:a.test', second);
      expect(await t.store.secrets.get('tls-cert-key:a.test')).toEqual(second);
    });
  });

  describe('certificates', () => {
    it('records a failure before any certificate, then the certificate, which clears the failure', async () => {
      await t.store.certificates.saveFailure('a.test,b.test', ['a.test', 'b.test'], { message: 'CA down', at: 5, retryAt: 65 });
      expect(await t.store.certificates.get('a.test,b.test')).toEqual({
        name: 'a.test,b.test', domains: ['a.test', 'b.test'], issued: undefined,
        lastError: { message: 'CA down', at: 5, retryAt: 65, failures: 1 }, renewRequestedAt: undefined, updatedAt: 5,
      });
      await t.store.certificates.saveIssued('a.test,b.test', ['a.test', 'b.test'], issued('01'), 7);
      expect(await t.store.certificates.get('a.test,b.test')).toEqual({
        name: 'a.test,b.test', domains: ['a.test', 'b.test'], issued: issued('01'), lastError: undefined, renewRequestedAt: undefined, updatedAt: 7,
      });
    });

    it('counts failures since the last certificate, from any connection', async (ctx) => {
      await t.store.certificates.saveFailure('a.test', ['a.test'], { message: 'one', at: 1, retryAt: 2 });
      await t.store.certificates.saveFailure('a.test', ['a.test'], { message: 'two', at: 3, retryAt: 4 });
      expect((await t.store.certificates.get('a.test'))?.lastError).toEqual({ message: 'two', at: 3, retryAt: 4, failures: 2 });
      if (t.canOpenPeer) {
        const peer = await t.openPeer();
        await peer.certificates.saveFailure('a.test', ['a.test'], { message: 'three', at: 5, retryAt: 6 });
        expect((await t.store.certificates.get('a.test'))?.lastError?.failures).toBe(3);
      } else ctx.annotate?.('no openPeer: counted on one connection only');
      await t.store.certificates.saveIssued('a.test', ['a.test'], issued('01'), 7);
      await t.store.certificates.saveFailure('a.test', ['a.test'], { message: 'again', at: 8, retryAt: 9 });
      expect((await t.store.certificates.get('a.test'))?.lastError?.failures).toBe(1);
    });

    it('keeps the certificate when a renewal fails, and replaces it when one succeeds', async () => {
      await t.store.certificates.saveIssued('a.test', ['a.test'], issued('01'), 1);
      await t.store.certificates.saveFailure('a.test', ['a.test'], { message: 'rate limited', at: 2, retryAt: 3 });
      expect(await t.store.certificates.get('a.test')).toMatchObject({ issued: issued('01'), lastError: { message: 'rate limited' } });
      await t.store.certificates.saveIssued('a.test', ['a.test'], issued('02', 190_000), 4);
      expect((await t.store.certificates.get('a.test'))?.issued).toEqual(issued('02', 190_000));
      expect(await t.store.certificates.get('unknown')).toBeUndefined();
    });

    it('marks one record or all for renewal; a save clears the mark', async () => {
      await t.store.certificates.saveIssued('b.test', ['b.test'], issued('0b'), 1);
      await t.store.certificates.saveIssued('a.test', ['a.test'], issued('0a'), 1);
      expect(await t.store.certificates.requestRenewal('a.test', 10)).toEqual(['a.test']);
      expect((await t.store.certificates.get('b.test'))?.renewRequestedAt).toBeUndefined();
      expect(await t.store.certificates.requestRenewal(undefined, 11)).toEqual(['a.test', 'b.test']);
      expect(await t.store.certificates.requestRenewal('none.test', 12)).toEqual([]);
      expect((await t.store.certificates.list()).map((c) => [c.name, c.renewRequestedAt])).toEqual([['a.test', 11], ['b.test', 11]]);
      await t.store.certificates.saveIssued('a.test', ['a.test'], issued('0c'), 13);
      await t.store.certificates.saveFailure('b.test', ['b.test'], { message: 'x', at: 13, retryAt: 14 });
      expect((await t.store.certificates.list()).map((c) => c.renewRequestedAt)).toEqual([undefined, undefined]);
    });

    it('tells a peer of a renewal request within a second', async (ctx) => {
      if (!t.canOpenPeer) ctx.skip('store factory gives no openPeer: cross-process notice not checked');
      await t.store.certificates.saveIssued('a.test', ['a.test'], issued('01'), 1);
      const peer = await t.openPeer();
      const noticed = new Promise<void>((resolve) => peer.onChange(resolve));
      await t.store.certificates.requestRenewal('a.test', 2);
      await noticed; // the test's timeout bounds the wait
      expect((await peer.certificates.get('a.test'))?.renewRequestedAt).toBe(2);
    });
  });

  describe('leases', () => {
    it('gives a lease to one holder until it expires or is released', async () => {
      expect(await t.store.leases.acquire('acme', 'one', 100, 200)).toBe(true);
      expect(await t.store.leases.acquire('acme', 'two', 150, 250)).toBe(false);
      expect(await t.store.leases.acquire('acme', 'one', 150, 300)).toBe(true); // extended by its holder
      expect(await t.store.leases.acquire('acme', 'two', 299, 400)).toBe(false);
      expect(await t.store.leases.acquire('acme', 'two', 300, 400)).toBe(true); // expired
      await t.store.leases.release('acme', 'one'); // not its lease any more: nothing changes
      expect(await t.store.leases.acquire('acme', 'one', 310, 500)).toBe(false);
      await t.store.leases.release('acme', 'two');
      expect(await t.store.leases.acquire('acme', 'one', 320, 500)).toBe(true);
      expect(await t.store.leases.acquire('other', 'two', 320, 500)).toBe(true); // leases are by name
    });

    it('lets exactly one of many concurrent holders win, across connections', async (ctx) => {
      if (!t.canOpenPeer) ctx.skip('store factory gives no openPeer: cross-process leases not checked');
      const peer = await t.openPeer();
      const tries = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? t.store : peer).leases.acquire('race', `h${i}`, 1_000, 2_000));
      expect((await Promise.all(tries)).filter(Boolean)).toHaveLength(1);
    });
  });
}

export function challengesContract(t: ContractContext): void {
  describe('ACME challenges', () => {
    it('keeps an answer until it is deleted or expires; a second put replaces it', async () => {
      await t.store.certificates.putChallenge('tok', 'tok.one', 1_000);
      expect(await t.store.certificates.challenge('tok', 999)).toBe('tok.one');
      expect(await t.store.certificates.challenge('tok', 1_000)).toBeUndefined();
      await t.store.certificates.putChallenge('tok', 'tok.two', 2_000);
      expect(await t.store.certificates.challenge('tok', 1_500)).toBe('tok.two');
      await t.store.certificates.deleteChallenge('tok');
      expect(await t.store.certificates.challenge('tok', 1_500)).toBeUndefined();
      expect(await t.store.certificates.challenge('never', 0)).toBeUndefined();
    });
  });
}
