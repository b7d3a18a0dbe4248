import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcmeError, Http01Solver, execProvider, obtainCertificate, type ObtainedCertificate } from '../../src/tls/acme/index.js';
import { type TestDns, startTestDns } from '../helpers/dns-server.js';
import { type Pebble, pebbleAvailable, startPebble } from '../helpers/pebble.js';
import { tempDir } from '../helpers/temp.js';

const SUITE = 'ACME against Pebble';

/** The chain's certificates, leaf first. */
function chainOf(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block));
}

/** The certificate chains to Pebble's root, names exactly `names`, is valid now and matches its key. */
function expectIssued(cert: ObtainedCertificate, pebble: Pebble, names: string[]): void {
  const [leaf, ...rest] = chainOf(cert.certPem);
  const root = new X509Certificate(pebble.rootPem);
  expect(leaf).toBeDefined();
  const intermediate = rest[0] ?? new X509Certificate(pebble.intermediatePem);
  expect(leaf!.checkIssued(intermediate)).toBe(true);
  expect(leaf!.verify(intermediate.publicKey)).toBe(true);
  expect(intermediate.checkIssued(root)).toBe(true);
  expect(intermediate.verify(root.publicKey)).toBe(true);
  expect(leaf!.issuer).toBe(intermediate.subject);
  expect(leaf!.subjectAltName?.split(', ').sort()).toEqual(names.map((name) => `DNS:${name}`).sort());
  expect(leaf!.checkPrivateKey(createPrivateKey(cert.keyPem))).toBe(true);
  expect(cert.serial).toBe(leaf!.serialNumber);
  expect(cert.notBefore.getTime()).toBeLessThanOrEqual(Date.now());
  expect(cert.notAfter.getTime()).toBeGreaterThan(Date.now());
  expect(cert.notAfter.getTime()).toBe(new Date(leaf!.validTo).getTime());
}

describe.runIf(pebbleAvailable(SUITE))(SUITE, () => {
  let dns: TestDns;
  let pebble: Pebble;
  let web: Server;
  let temp: ReturnType<typeof tempDir>;
  /** The solver the test's HTTP-01 listener serves, as soakp's plain-HTTP listener will. */
  const solver = new Http01Solver();
  const served: string[] = [];

  beforeAll(async () => {
    temp = tempDir('soakp-acme-');
    dns = await startTestDns();
    web = createServer((req, res) => {
      served.push(req.url ?? '');
      if (!solver.handle(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    pebble = await startPebble({ dnsServer: dns.address, httpPort: (web.address() as AddressInfo).port });
  });

  afterAll(async () => {
    await pebble?.stop();
    web?.closeAllConnections();
    await new Promise((resolve) => web?.close(resolve));
    await dns?.close();
    temp?.cleanup();
  });

  const base = () => ({ directoryUrl: pebble.directoryUrl, caPem: pebble.tlsCaPem, email: 'ops@example.test', poll: { minMs: 50, maxMs: 500 } });

  it('HTTP-01: obtains a certificate chaining to Pebble root, makes the account key, and renews with it', async () => {
    const names = ['app.soakp.test', 'www.soakp.test'];
    const first = await obtainCertificate({ ...base(), domains: names, challenge: 'http-01', http01: solver });
    expectIssued(first, pebble, names);
    expect(first.accountKeyCreated).toBe(true);
    expect(first.accountKeyPem).toContain('PRIVATE KEY');
    expect(first.warnings).toEqual([]);
    expect(served.filter((url) => url.startsWith('/.well-known/acme-challenge/')).length).toBeGreaterThanOrEqual(2);
    expect(solver.size).toBe(0);

    const renewed = await obtainCertificate({ ...base(), accountKeyPem: first.accountKeyPem, domains: names, challenge: 'http-01', http01: solver });
    expectIssued(renewed, pebble, names);
    expect(renewed.accountKeyCreated).toBe(false);
    expect(renewed.accountKeyPem).toBe(first.accountKeyPem);
    expect(renewed.serial).not.toBe(first.serial);
    expect(renewed.keyPem).not.toBe(first.keyPem);
    expect(solver.size).toBe(0);
  });

  it('HTTP-01: a challenge Pebble cannot fetch fails the order with an AcmeError, and nothing stays pending', async () => {
    const unmounted = new Http01Solver(); // not served by the listener: Pebble gets 404
    const failed = obtainCertificate({ ...base(), domains: ['missing.soakp.test'], challenge: 'http-01', http01: unmounted });
    await expect(failed).rejects.toBeInstanceOf(AcmeError);
    await expect(failed).rejects.toMatchObject({ code: 'acme_order_failed', message: expect.stringContaining('missing.soakp.test') });
    expect(unmounted.size).toBe(0);
  });

  describe('External Account Binding', () => {
    let eabPebble: Pebble;
    // A base64url HMAC key, as CAs hand them out (Pebble's example key).
    const eab = { kid: 'kid-3', hmacKey: 'HjudV5qnbreN-n9WyFSH-t4HXuEx_XFen45zuxY-G1h6fr74V3cUM_dVlwQZBWmc' };

    beforeAll(async () => {
      eabPebble = await startPebble({ dnsServer: dns.address, httpPort: (web.address() as AddressInfo).port, eab: { [eab.kid]: eab.hmacKey } });
    });
    afterAll(async () => eabPebble?.stop());

    const eabBase = () => ({ directoryUrl: eabPebble.directoryUrl, caPem: eabPebble.tlsCaPem, poll: { minMs: 50, maxMs: 500 } });

    it('binds the new account with the kid and HMAC key, and a CA that requires it refuses an order without', async () => {
      const cert = await obtainCertificate({ ...eabBase(), externalAccountBinding: eab, domains: ['eab.soakp.test'], challenge: 'http-01', http01: solver });
      expectIssued(cert, eabPebble, ['eab.soakp.test']);
      const unbound = obtainCertificate({ ...eabBase(), domains: ['eab.soakp.test'], challenge: 'http-01', http01: solver });
      await expect(unbound).rejects.toMatchObject({ code: 'acme_order_failed', message: expect.stringContaining("include a value for the 'externalAccountBinding' field") });
    });
  });

  describe('DNS-01 through the exec provider', () => {
    let hook: string;
    let log: string;
    const hookEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ DNS_CONTROL: dns.controlUrl, HOOK_LOG: log, ...extra });

    beforeAll(() => {
      hook = join(temp.dir, 'dns-hook.mjs');
      log = join(temp.dir, 'hook.log');
      writeFileSync(log, '');
      // lego's exec convention: HOOK present|cleanup <fqdn.> <value>; here it edits the test's DNS server.
      writeFileSync(
        hook,
        [
          '#!/usr/bin/env node',
          "import { appendFileSync } from 'node:fs';",
          'const [action, fqdn, value] = process.argv.slice(2);',
          'appendFileSync(process.env.HOOK_LOG, `${action} ${fqdn} ${value}\\n`);',
          'if (process.env.HOOK_NOOP === action) process.exit(0);',
          "if (process.env.HOOK_FAIL === action) { process.stderr.write('lots of noise\\n'.repeat(100) + 'zone example.test is locked\\n'); process.exit(3); }",
          "const res = await fetch(`${process.env.DNS_CONTROL}/${action}`, { method: 'POST', body: JSON.stringify({ fqdn, value }) });",
          'process.exit(res.ok ? 0 : 1);',
        ].join('\n'),
      );
      chmodSync(hook, 0o755);
    });

    const propagation = () => ({ resolvers: [dns.address], timeoutMs: 5_000, intervalMs: 25 });

    it('obtains a wildcard certificate with its apex, waiting for the TXT records and removing them after', async () => {
      writeFileSync(log, '');
      const names = ['*.example.test', 'example.test'];
      const cert = await obtainCertificate({
        ...base(),
        domains: names,
        challenge: 'dns-01',
        dns: execProvider({ command: hook, env: hookEnv() }),
        propagation: propagation(),
      });
      expectIssued(cert, pebble, names);
      const calls = readFileSync(log, 'utf8').trim().split('\n');
      // One record per name, both at _acme-challenge.example.test. with different values.
      const presents = calls.filter((line) => line.startsWith('present _acme-challenge.example.test. '));
      const cleanups = calls.filter((line) => line.startsWith('cleanup _acme-challenge.example.test. '));
      expect(presents).toHaveLength(2);
      expect(new Set(presents.map((line) => line.split(' ')[2])).size).toBe(2);
      expect(cleanups.map((line) => line.split(' ')[2]).sort()).toEqual(presents.map((line) => line.split(' ')[2]).sort());
      expect(dns.txt('_acme-challenge.example.test')).toEqual([]);
    });

    it('a failing present hook aborts with the tail of its stderr, and cleanup still runs', async () => {
      writeFileSync(log, '');
      const failed = obtainCertificate({
        ...base(),
        domains: ['locked.example.test'],
        challenge: 'dns-01',
        dns: execProvider({ command: hook, env: hookEnv({ HOOK_FAIL: 'present' }) }),
        propagation: propagation(),
      });
      await expect(failed).rejects.toMatchObject({
        name: 'AcmeError',
        code: 'acme_dns_provider_failed',
        message: expect.stringMatching(/present for _acme-challenge\.locked\.example\.test\. exited with 3: .*zone example\.test is locked$/s),
      });
      await expect(failed).rejects.toSatisfy((err: Error) => err.message.length < 700);
      const calls = readFileSync(log, 'utf8').trim().split('\n');
      expect(calls.map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
        'present _acme-challenge.locked.example.test.',
        'cleanup _acme-challenge.locked.example.test.',
      ]);
    });

    it('an order the CA fails keeps the cleanup that failed too: in the message and as cleanupWarnings', async () => {
      writeFileSync(log, '');
      // The hook publishes nothing, so Pebble finds no TXT record; then it cannot remove it either.
      const failed = obtainCertificate({
        ...base(),
        domains: ['void.example.test'],
        challenge: 'dns-01',
        dns: execProvider({ command: hook, env: hookEnv({ HOOK_NOOP: 'present', HOOK_FAIL: 'cleanup' }) }),
        propagation: { delayMs: 0 },
      });
      const record = '_acme-challenge\\.void\\.example\\.test\\.';
      const warning = `exec: removing the TXT record of ${record} failed: DNS hook cleanup for ${record} exited with 3: .*zone example\\.test is locked`;
      await expect(failed).rejects.toMatchObject({
        name: 'AcmeError',
        code: 'acme_order_failed',
        message: expect.stringMatching(new RegExp(`^ACME order for void\\.example\\.test failed: No TXT records found for DNS challenge; also: ${warning}$`, 's')),
        cleanupWarnings: [expect.stringMatching(new RegExp(`^${warning}$`, 's'))],
      });
      expect(readFileSync(log, 'utf8').trim().split('\n').map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
        'present _acme-challenge.void.example.test.',
        'cleanup _acme-challenge.void.example.test.',
      ]);
    });

    it('a record that never shows at the resolver times out, bounded, and is removed (or said not to be)', async () => {
      writeFileSync(log, '');
      const cleaned: string[] = [];
      const cleanup = async (fqdn: string): Promise<void> => {
        cleaned.push(fqdn);
        throw new Error('API down');
      };
      const silent = { name: 'silent', present: async () => undefined, cleanup };
      const started = Date.now();
      const failed = obtainCertificate({
        ...base(),
        domains: ['slow.example.test'],
        challenge: 'dns-01',
        dns: silent,
        propagation: { resolvers: [dns.address], timeoutMs: 300, intervalMs: 25 },
      });
      await expect(failed).rejects.toMatchObject({
        code: 'acme_dns_propagation_timeout',
        message: expect.stringMatching(/^TXT record for _acme-challenge\.slow\.example\.test\. not seen .*; also: silent: removing the TXT record of _acme-challenge\.slow\.example\.test\. failed: API down$/),
        cleanupWarnings: ['silent: removing the TXT record of _acme-challenge.slow.example.test. failed: API down'],
      });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(cleaned).toEqual(['_acme-challenge.slow.example.test.']);
    });
  });
});
