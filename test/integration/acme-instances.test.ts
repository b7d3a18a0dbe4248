import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servedCertificate } from '../helpers/certs.js';
import { json, runCli } from '../helpers/cli.js';
import { type TestDns, startTestDns } from '../helpers/dns-server.js';
import { type Pebble, freePort, pebbleAvailable, startPebble } from '../helpers/pebble.js';
import { type ServeProcess, startServe, startServes } from '../helpers/serve.js';
import { randomMasterKey, tempDir } from '../helpers/temp.js';

const SUITE = 'ACME with several instances, DNS-01 and failures';

describe.runIf(pebbleAvailable(SUITE))(SUITE, () => {
  let temp: ReturnType<typeof tempDir>;
  let dns: TestDns;
  let pebble: Pebble;
  let caFile: string;
  let hook: string;
  const servers: ServeProcess[] = [];

  beforeAll(async () => {
    temp = tempDir('soakp-acme-instances-');
    dns = await startTestDns();
    pebble = await startPebble({ dnsServer: dns.address, httpPort: await freePort() });
    caFile = join(temp.dir, 'pebble-tls.pem');
    writeFileSync(caFile, pebble.tlsCaPem);
    hook = join(temp.dir, 'dns-hook.mjs');
    // lego's exec convention (HOOK present|cleanup <fqdn.> <value>), writing into the test's DNS server.
    writeFileSync(hook, [
      '#!/usr/bin/env node',
      'const [action, fqdn, value] = process.argv.slice(2);',
      "const res = await fetch(`${process.env.DNS_CONTROL}/${action}`, { method: 'POST', body: JSON.stringify({ fqdn, value }) });",
      'process.exit(res.ok ? 0 : 1);',
    ].join('\n'));
    chmodSync(hook, 0o755);
  });

  afterAll(async () => {
    await Promise.all(servers.filter((s) => s.child.exitCode === null).map((s) => s.stop()));
    await pebble?.stop();
    await dns?.close();
    temp?.cleanup();
  });

  const config = (dir: string): string => {
    const file = join(dir, 'acme.yaml');
    writeFileSync(file, `tls:\n  acme:\n    pollInterval: 1s\n    propagation:\n      resolvers: ["${dns.address}"]\n      timeout: 10s\n`);
    return file;
  };

  it('two processes on one SQLite file: one orders a wildcard over DNS-01, the other takes it from the store', async () => {
    const dir = join(temp.dir, 'shared');
    const env = { SOAKP_DATA_DIR: dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_CONFIG: config(temp.dir), DNS_CONTROL: dns.controlUrl };
    const args = ['--tls', 'acme', '--acme-domain', '*.shared.test', '--acme-domain', 'shared.test', '--acme-challenge', 'dns-01',
      '--acme-dns', 'exec', '--acme-dns-exec', hook, '--acme-directory', pebble.directoryUrl, '--acme-ca-file', caFile];
    const [a, b] = await startServes([{ env, args: [...args, '--http-port', '0'] }, { env, args }]);
    servers.push(a!, b!);
    // Each either obtains the certificate itself or takes it up from the store: never both.
    const outcome = /TLS certificate obtained|TLS certificate taken up from the store/;
    await Promise.all([a!.waitFor(outcome, 60_000), b!.waitFor(outcome, 60_000)]);
    const orders = [a!, b!].filter((s) => /Ordering a TLS certificate/.test(s.output()));
    expect(orders).toHaveLength(1);
    const [served1, served2] = await Promise.all([servedCertificate(a!.url, pebble.rootPem, 'api.shared.test'), servedCertificate(b!.url, pebble.rootPem, 'shared.test')]);
    expect(served1.serialNumber).toBe(served2.serialNumber);
    expect(served1.subjectaltname?.split(', ').sort()).toEqual(['DNS:*.shared.test', 'DNS:shared.test']);
    expect(dns.txt('_acme-challenge.shared.test')).toEqual([]);
    // The plain port redirects for a name the wildcard covers (one label), and for no other.
    const plain = /"httpUrl":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(a!.output())![1]!;
    const redirect = async (host: string) => {
      const res = await request(`${plain}/page`, { headers: { host } });
      await res.body.dump();
      return [res.statusCode, res.headers.location];
    };
    expect(await redirect('api.shared.test')).toEqual([308, `https://api.shared.test:${new URL(a!.url).port}/page`]);
    expect(await redirect('SHARED.test')).toEqual([308, `https://shared.test:${new URL(a!.url).port}/page`]);
    expect(await redirect('a.b.shared.test')).toEqual([403, undefined]);
    expect(await redirect('evilshared.test')).toEqual([403, undefined]);
    const status = json<Array<{ name: string; serial: string }>>(await runCli(['tls', 'status', '--json'], env));
    expect(status).toEqual([expect.objectContaining({ name: '*.shared.test,shared.test', serial: served1.serialNumber })]);
  });

  it('a directory that does not answer: starts anyway on a placeholder, /readyz 503, and says why', async () => {
    const closed = await freePort();
    const env = { SOAKP_DATA_DIR: join(temp.dir, 'down'), SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_CONFIG: config(temp.dir) };
    const server = await startServe(env, ['--tls', 'acme', '--acme-domain', 'down.test', '--acme-directory', `https://127.0.0.1:${closed}/dir`, '--acme-ca-file', caFile, '--http-port', '0']);
    servers.push(server);
    await server.waitFor(/"reason":"ECONNREFUSED"[^\n]*The ACME directory does not answer; HTTPS serves a placeholder \(\/readyz answers 503\)/);
    // The placeholder is trusted by no one.
    await expect(servedCertificate(server.url, pebble.rootPem, 'down.test')).rejects.toThrow(/self-signed|self signed|unable to verify/);
    const insecure = new Agent({ connect: { rejectUnauthorized: false } });
    const ready = await request(`${server.url}/readyz`, { dispatcher: insecure });
    expect(ready.statusCode).toBe(503);
    expect(await ready.body.json()).toEqual({ status: 'unavailable', failing: ['tls'] });
    await insecure.close();
    // Stopping does not wait for the order still retrying the directory.
    expect(await server.stop()).toBe(0);
  });

  it('a failed order is logged loudly and recorded for `soakp tls status`, with its retry time', async () => {
    const env = { SOAKP_DATA_DIR: join(temp.dir, 'fails'), SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_CONFIG: config(temp.dir) };
    const wrong = new URL('/no-such-directory', pebble.directoryUrl).href;
    const server = await startServe(env, ['--tls', 'acme', '--acme-domain', 'fails.test', '--acme-directory', wrong, '--acme-ca-file', caFile, '--http-port', '0']);
    servers.push(server);
    await server.waitFor(/"level":50[^\n]*No TLS certificate could be obtained/);
    const [status] = json<Array<{ name: string; lastError: string; nextRenewal: string }>>(await runCli(['tls', 'status', '--json'], env));
    expect(status).toMatchObject({ name: 'fails.test', lastError: expect.stringMatching(/404/), nextRenewal: expect.stringMatching(/^retry 20/) });
    const human = await runCli(['tls', 'status'], env);
    expect(human.stdout).toMatch(/fails\.test\n {2}issuer: {7}\(none yet\)[\s\S]*last error: {3}/);
    const unknown = await runCli(['tls', 'renew', 'other.test'], env);
    expect([unknown.code, unknown.stderr]).toEqual([3, expect.stringMatching(/No ACME certificate is for other\.test/)]);
  });

  const badKey = randomMasterKey();
  it.each([
    ['a wildcard with HTTP-01', ['--acme-domain', '*.w.test', '--http-port', '0'], /a wildcard name can only be validated with dns-01/],
    ['HTTP-01 without a plain-HTTP port', ['--acme-domain', 'a.test'], /http-01 needs httpPort \(--http-port\)/],
    ['no domain', ['--http-port', '0'], /ACME needs at least one domain name \(--acme-domain\)/],
    ['an unknown DNS provider', ['--acme-domain', 'a.test', '--acme-challenge', 'dns-01', '--acme-dns', 'bind9'], /tls\.acme\.dns: must be one of: exec, cloudflare, route53, digitalocean/],
    ['missing provider credentials', ['--acme-domain', 'a.test', '--acme-challenge', 'dns-01', '--acme-dns', 'cloudflare'], /ACME DNS provider cloudflare needs CF_DNS_API_TOKEN/],
    ['an unreadable CA file', ['--acme-domain', 'a.test', '--http-port', '0', '--acme-ca-file', '/nonexistent/ca.pem'], /the CA file \/nonexistent\/ca\.pem cannot be read \(ENOENT\)/],
    ['staging and a directory', ['--acme-domain', 'a.test', '--http-port', '0', '--acme-staging', '--acme-directory', 'https://ca.test/dir'], /give either a directory or staging/],
  ])('refuses %s before anything starts', async (_name, extra, message) => {
    const env = { SOAKP_DATA_DIR: join(temp.dir, 'bad'), SOAKP_MASTER_KEY: badKey };
    const r = await runCli(['serve', '--host', '127.0.0.1', '--port', '0', '--tls', 'acme', ...extra], env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stdout + r.stderr).not.toMatch(/soakp is listening/);
  });
});
