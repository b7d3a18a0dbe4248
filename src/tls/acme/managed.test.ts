import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/index.js';
import { createLogger } from '../../shared/index.js';
import type { Store } from '../../store/index.js';
import { openSqliteStore } from '../../store/sqlite/open.js';
import { Vault, masterKeySource } from '../../vault/index.js';
import type { CertificateSource } from '../source.js';
import { issueCertificate } from '../x509.js';
import { acmeCertificateSource } from './managed.js';
import type { ObtainedCertificate } from './obtain.js';

const DAY = 86_400_000;
// Nothing listens on port 1: the background check of the directory fails at once, harmlessly.
const STAGING = 'https://127.0.0.1:1/staging';
const PRODUCTION = 'https://127.0.0.1:1/production';

/** What a CA would issue for `domains`: self-signed here, the source does not care. */
function issue(domains: readonly string[]): ObtainedCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const now = Date.now();
  const certPem = issueCertificate({ subject: domains[0]!, publicKey, names: domains, issuer: { name: 'Fake CA', privateKey, publicKey }, notBefore: new Date(now - DAY), notAfter: new Date(now + 89 * DAY) });
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, notBefore: new Date(now - DAY), notAfter: new Date(now + 89 * DAY), serial: '', accountKeyPem: '', accountKeyCreated: false, warnings: [] };
}

describe('the ACME certificate source', () => {
  let dir: string;
  let store: Store;
  let vault: Vault;
  let sources: CertificateSource[];
  let orders: string[][];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-acme-source-'));
    store = await openSqliteStore({ file: join(dir, 'soakp.db'), pollMs: 20 });
    const keys = masterKeySource({ env: {}, dataDir: dir });
    vault = await Vault.open(store, () => keys.load());
    sources = [];
    orders = [];
  });
  afterEach(async () => {
    for (const s of sources) s.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A source for these settings whose orders succeed at once (`fail`: or fail). */
  async function open(directory: string, domains: string[], fail = false): Promise<CertificateSource> {
    const settings = loadConfig({ tls: 'acme', acmeDomain: domains, acmeDirectory: directory, httpPort: '8080' }, {}).config.tls.acme;
    const source = await acmeCertificateSource(settings, {
      store, vault, env: {}, logger: createLogger('silent'),
      obtain: async (options) => {
        orders.push([...options.domains]);
        if (fail) throw new Error('CA says no');
        return issue(options.domains);
      },
    });
    sources.push(source);
    return source;
  }

  const next = (source: CertificateSource): Promise<string> => new Promise((resolve) => source.onChange((pair) => resolve(pair.serial)));

  it("does not serve another directory's certificate (staging, then production): it orders its own at once", async () => {
    const staging = await open(STAGING, ['a.test']);
    const first = next(staging);
    staging.start?.();
    const stagingSerial = await first;
    staging.close();
    const production = await open(PRODUCTION, ['a.test']);
    expect(production.current().serial).not.toBe(stagingSerial);
    expect(production.ready?.()).toBe(false); // the placeholder
    const second = next(production);
    production.start?.();
    expect(await second).not.toBe(stagingSerial);
    expect(production.ready?.()).toBe(true);
    expect(orders).toEqual([['a.test'], ['a.test']]);
  });

  it('keeps serving the certificate for the old names while one for the new list is ordered; the same names in another order are the same', async () => {
    const one = await open(PRODUCTION, ['a.test']);
    const issued = next(one);
    one.start?.();
    const oneSerial = await issued;
    one.close();
    const two = await open(PRODUCTION, ['a.test', 'b.test']);
    expect([two.current().serial, two.ready?.()]).toEqual([oneSerial, true]);
    const both = next(two);
    two.start?.();
    const twoSerial = await both;
    two.close();
    expect(orders.at(-1)).toEqual(['a.test', 'b.test']);
    const again = await open(PRODUCTION, ['a.test', 'B.TEST', 'a.test']);
    expect(again.current().serial).toBe(twoSerial);
  });

  it('without a certificate, a restart orders at once even when an earlier failure set a later retry', async () => {
    await store.certificates.saveFailure('a.test', ['a.test'], { message: 'earlier', at: Date.now(), retryAt: Date.now() + 3_600_000 });
    const source = await open(PRODUCTION, ['a.test']);
    const issued = next(source);
    source.start?.();
    await issued;
    expect(orders).toEqual([['a.test']]);
  });
});
