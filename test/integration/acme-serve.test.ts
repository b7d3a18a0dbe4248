import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servedCertificate } from '../helpers/certs.js';
import { json, runCli } from '../helpers/cli.js';
import { type TestDns, startTestDns } from '../helpers/dns-server.js';
import { SSE_EVENTS } from '../helpers/fake-routes.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { type Pebble, freePort, pebbleAvailable, startPebble } from '../helpers/pebble.js';
import { holdStream } from '../helpers/held-stream.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const SUITE = 'soakp serve --tls acme against Pebble';
const NAME = 'app.soakp.test';

describe.runIf(pebbleAvailable(SUITE))(SUITE, () => {
  let temp: ReturnType<typeof tempDir>;
  let dns: TestDns;
  let pebble: Pebble;
  let upstream: FakeUpstream;
  let server: ServeProcess | undefined;
  let env: NodeJS.ProcessEnv;
  let args: string[];
  let httpPort: number;
  let token: string;
  let trustPebble: Agent;

  beforeAll(async () => {
    temp = tempDir('soakp-acme-serve-');
    dns = await startTestDns();
    httpPort = await freePort();
    pebble = await startPebble({ dnsServer: dns.address, httpPort });
    upstream = await startFakeUpstream();
    const caFile = join(temp.dir, 'pebble-tls.pem');
    writeFileSync(caFile, pebble.tlsCaPem);
    const config = join(temp.dir, 'acme.yaml');
    writeFileSync(config, 'tls:\n  acme:\n    pollInterval: 1s\n');
    env = { SOAKP_DATA_DIR: join(temp.dir, 'data'), SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_CONFIG: config };
    json(await runCli(['user', 'add', 't@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    ({ token } = json<{ token: string }>(await runCli(['token', 'issue', 't@example.com', '--json'], env)));
    args = ['--tls', 'acme', '--acme-domain', NAME, '--acme-directory', pebble.directoryUrl, '--acme-ca-file', caFile, '--acme-email', 'ops@soakp.test', '--http-port', String(httpPort)];
    trustPebble = new Agent({ connect: { ca: pebble.rootPem, servername: NAME } });
  });

  afterAll(async () => {
    if (server && server.child.exitCode === null) await server.stop();
    await trustPebble?.close();
    await upstream?.close();
    await pebble?.stop();
    await dns?.close();
    temp?.cleanup();
  });

  it('obtains a certificate over HTTP-01 at start; a client trusting only Pebble reaches /v1; /readyz turns ready', async () => {
    server = await startServe(env, args);
    await server.waitFor(/TLS certificate obtained/);
    const ready = await request(`${server.url}/readyz`, { dispatcher: trustPebble });
    expect(ready.statusCode).toBe(200);
    await ready.body.dump();
    const res = await request(`${server.url}/v1/chat/completions`, {
      dispatcher: trustPebble, method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.statusCode).toBe(200);
    expect(((await res.body.json()) as { object: string }).object).toBe('chat.completion');
    const cert = await servedCertificate(server.url, pebble.rootPem, NAME);
    expect(cert.subjectaltname).toBe(`DNS:${NAME}`);
    // The key of the certificate and of the ACME account never reach the log, nor the database in clear.
    expect(server.output()).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    const files = readdirSync(join(temp.dir, 'data')).map((f) => readFileSync(join(temp.dir, 'data', f)).toString('latin1'));
    expect(files.join('')).toContain('BEGIN CERTIFICATE'); // the certificate is public and stored as is
    expect(files.join('')).not.toContain('PRIVATE KEY');
  });

  it('the plain-HTTP port redirects browsers to HTTPS and refuses the API', async () => {
    const plain = `http://127.0.0.1:${httpPort}`;
    const page = await request(`${plain}/some/page?x=1`, { headers: { host: `${NAME}:${httpPort}` } });
    expect(page.statusCode).toBe(308);
    expect(page.headers.location).toBe(`https://${NAME}:${new URL(server!.url).port}/some/page?x=1`);
    await page.body.dump();
    // Only the certificate's names are redirected to: any other Host gets no Location.
    const other = await request(`${plain}/some/page`, { headers: { host: 'evil.example' } });
    expect([other.statusCode, other.headers.location]).toEqual([403, undefined]);
    await other.body.dump();
    const api = await request(`${plain}/v1/models`, { headers: { host: NAME, authorization: `Bearer ${token}` } });
    expect(api.statusCode).toBe(403);
    expect(await api.body.json()).toMatchObject({ error: { code: 'https_required', type: 'permission_error' } });
    expect(upstream.requests.filter((r) => r.url === '/v1/models')).toHaveLength(0);
    const challenge = await request(`${plain}/.well-known/acme-challenge/unknown`, { headers: { host: NAME } });
    expect(challenge.statusCode).toBe(404);
    await challenge.body.dump();
  });

  it('`soakp tls status` lists it; `soakp tls renew` makes the running server serve a new serial while a stream goes on', async () => {
    const status = json<Array<{ name: string; issuer: string; serial: string; notAfter: string; nextRenewal: string }>>(await runCli(['tls', 'status', '--json'], env));
    const first = (await servedCertificate(server!.url, pebble.rootPem, NAME)).serialNumber;
    expect(status).toEqual([expect.objectContaining({ name: NAME, serial: first, issuer: expect.stringMatching(/Pebble/) })]);
    expect(Date.parse(status[0]!.nextRenewal)).toBeLessThan(Date.parse(status[0]!.notAfter));

    const stream = await holdStream(server!.url, trustPebble, token, upstream);

    const renew = await runCli(['tls', 'renew', NAME], env);
    expect(renew.code).toBe(0);
    expect(renew.stdout).toMatch(/Renewal requested for app\.soakp\.test/);
    await server!.waitFor(/TLS certificate obtained[\s\S]*TLS certificate obtained/);
    const second = (await servedCertificate(server!.url, pebble.rootPem, NAME)).serialNumber;
    expect(second).not.toBe(first);

    const events = await stream.finish();
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(events.length).toBeGreaterThanOrEqual(SSE_EVENTS.length);
  });

  it('a restart serves the stored certificate at once, without a new order', async () => {
    const served = (await servedCertificate(server!.url, pebble.rootPem, NAME)).serialNumber;
    await server!.stop();
    server = await startServe(env, args);
    await server.waitFor(/Serving the stored ACME certificate/);
    expect((await servedCertificate(server.url, pebble.rootPem, NAME)).serialNumber).toBe(served);
    expect(server.output()).not.toMatch(/Ordering a TLS certificate/);
  });
});
