import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/index.js';
import type { Store } from '../../store/index.js';
import { openSqliteStore } from '../../store/sqlite/open.js';
import type { CertificatePair } from '../source.js';
import { checkPair } from '../pair.js';
import { issueCertificate } from '../x509.js';
import type { ObtainedCertificate } from './obtain.js';
import { Renewal } from './renewal.js';
import type { AcmeSettings } from './settings.js';

const DAY = 86_400_000;
const DOMAINS = ['a.test'];

function leaf(notBefore: number, notAfter: number): ObtainedCertificate & { pair: CertificatePair } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const certPem = issueCertificate({ subject: 'a.test', publicKey, names: DOMAINS, issuer: { name: 'Test CA', privateKey, publicKey }, notBefore: new Date(notBefore), notAfter: new Date(notAfter) });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const pair = checkPair(certPem, keyPem, { cert: 'c', key: 'k' });
  return { certPem, keyPem, notBefore: new Date(notBefore), notAfter: new Date(notAfter), serial: pair.serial, accountKeyPem: '', accountKeyCreated: false, warnings: [], pair };
}

describe('Renewal', () => {
  let dir: string;
  let store: Store;
  let lines: Array<{ level: number; msg: string; retryAt?: string }>;
  let renewals: Renewal[];
  const logger = () => createLogger('debug', { stream: new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(JSON.parse(chunk.toString())), done()) }) });
  const settings = { retryMin: 40, retryMax: 160 } as AcmeSettings;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-renewal-'));
    store = await openSqliteStore({ file: join(dir, 'soakp.db') });
    lines = [];
    renewals = [];
  });
  afterEach(async () => {
    for (const r of renewals) r.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A renewal over the real store whose orders are `obtain`; `served` is what it serves. */
  function renewal(obtain: () => Promise<ObtainedCertificate>, served: { pair: CertificatePair; real: boolean }, random = () => 1): Renewal {
    const r = new Renewal({
      store, logger: logger(), settings, domains: DOMAINS, holder: 'me', now: Date.now, random, obtain,
      load: async () => ({ record: undefined, pair: undefined }),
      save: async (got) => {
        await store.certificates.saveIssued('a.test', DOMAINS, { pem: got.certPem, serial: got.serial, issuer: 'Test CA', directory: 'https://ca.test/dir', notBefore: got.notBefore.getTime(), notAfter: got.notAfter.getTime(), renewAt: got.notAfter.getTime() - DAY }, Date.now());
        return checkPair(got.certPem, got.keyPem, { cert: 'c', key: 'k' });
      },
      current: () => served,
      swap: (pair) => Object.assign(served, { pair, real: true }),
    }, undefined);
    renewals.push(r);
    return r;
  }

  /** An obtain that fails `n` times, recording each failure's retry delay from the store. */
  function failing(n: number): { obtain: () => Promise<ObtainedCertificate>; delays: Promise<number[]> } {
    const delays: number[] = [];
    let resolve: (d: number[]) => void;
    const done = new Promise<number[]>((r) => (resolve = r));
    let calls = 0;
    return {
      delays: done,
      obtain: async () => {
        calls += 1;
        if (calls > 1) {
          const e = (await store.certificates.get('a.test'))?.lastError;
          delays.push((e?.retryAt ?? 0) - (e?.at ?? 0));
        }
        if (calls > n) {
          resolve(delays);
          return new Promise(() => {}); // stays pending: no more records
        }
        throw new Error(`CA says no (${calls})`);
      },
    };
  }

  it('retries a failed order doubling from retryMin up to retryMax, with jitter between half and all of it', async () => {
    const high = failing(5);
    const now = Date.now();
    renewal(high.obtain, { pair: leaf(now - DAY, now + 30 * DAY).pair, real: false }, () => 1).start();
    expect(await high.delays).toEqual([40, 80, 160, 160, 160]);
    const low = failing(3);
    await store.certificates.saveIssued('a.test', DOMAINS, { pem: 'x', serial: '0', issuer: '', directory: '', notBefore: 0, notAfter: 1, renewAt: 0 }, now); // clears the last error
    renewal(low.obtain, { pair: leaf(now - DAY, now + 30 * DAY).pair, real: false }, () => 0).start();
    expect(await low.delays).toEqual([20, 40, 80]);
  });

  it.each([
    ['no certificate yet', false, 30, 50, /No TLS certificate could be obtained: HTTPS serves a placeholder/],
    ['a certificate with 30 days left', true, 30, 40, /TLS certificate renewal failed; the current certificate stays in use/],
    ['a certificate with 3 days left', true, 3, 50, /The TLS certificate expires in 3 day\(s\) and could not be renewed/],
    ['an expired certificate', true, -1, 50, /The TLS certificate has EXPIRED/],
  ])('logs a failure with %s at the right level', async (_name, real, days, level, message) => {
    const f = failing(1);
    const now = Date.now();
    renewal(f.obtain, { pair: leaf(now - 60 * DAY, now + days * DAY - 60_000).pair, real }).start();
    await f.delays;
    const line = lines.find((l) => message.test(l.msg));
    expect(line).toMatchObject({ level });
    expect(Date.parse(line?.retryAt ?? '')).toBeGreaterThan(now);
  });

  it('orders at once when the stored certificate is due, and serves the new one', async () => {
    const now = Date.now();
    const old = leaf(now - 60 * DAY, now + 10 * DAY);
    await store.certificates.saveIssued('a.test', DOMAINS, { pem: old.certPem, serial: old.serial, issuer: 'Test CA', directory: 'https://ca.test/dir', notBefore: now - 60 * DAY, notAfter: now + 10 * DAY, renewAt: now - 1 }, now);
    const fresh = leaf(now, now + 90 * DAY);
    const served = { pair: old.pair, real: true };
    let ordered: () => void;
    const done = new Promise<void>((r) => (ordered = r));
    const r = new Renewal({
      store, logger: logger(), settings, domains: DOMAINS, holder: 'me', now: Date.now, random: () => 1,
      obtain: async () => fresh,
      load: async () => ({ record: await store.certificates.get('a.test'), pair: old.pair }),
      save: async (got) => checkPair(got.certPem, got.keyPem, { cert: 'c', key: 'k' }),
      current: () => served,
      swap: (pair) => {
        Object.assign(served, { pair, real: true });
        ordered();
      },
    }, await store.certificates.get('a.test'));
    renewals.push(r);
    r.start();
    await done;
    expect(served.pair.serial).toBe(fresh.serial);
  });

  it("orders when the CA's renewal window (ARI) opens, before the third-of-lifetime rule would", async () => {
    const now = Date.now();
    const current = leaf(now - DAY, now + 60 * DAY);
    await store.certificates.saveIssued('a.test', DOMAINS, { pem: current.certPem, serial: current.serial, issuer: 'Test CA', directory: 'https://ca.test/dir', notBefore: now - DAY, notAfter: now + 60 * DAY, renewAt: now + 40 * DAY }, now);
    const served = { pair: current.pair, real: true };
    const asked: string[] = [];
    let renewed: () => void;
    const done = new Promise<void>((r) => (renewed = r));
    const r = new Renewal({
      store, logger: logger(), settings, domains: DOMAINS, holder: 'me', now: Date.now, random: () => 0.5,
      obtain: async () => leaf(Date.now(), Date.now() + 90 * DAY),
      ari: async (pem) => (asked.push(pem), { start: now - 2 * DAY, end: now - DAY }), // a window already open: e.g. ahead of a revocation
      load: async () => ({ record: await store.certificates.get('a.test'), pair: current.pair }),
      save: async (got) => checkPair(got.certPem, got.keyPem, { cert: 'c', key: 'k' }),
      current: () => served,
      swap: (pair) => {
        Object.assign(served, { pair, real: true });
        renewed();
      },
    }, await store.certificates.get('a.test'));
    renewals.push(r);
    r.start();
    await done;
    expect(served.pair.serial).not.toBe(current.serial);
    expect(asked[0]).toBe(current.certPem);
    expect(lines.some((l) => l.msg === 'The CA suggests a renewal window (ARI)')).toBe(true);
  });
});
