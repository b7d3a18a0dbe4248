import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import OpenAI from 'openai';
import { Agent, fetch as undiciFetch, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestPair, servedSerial, testCa, testLeaf, waitFor, waitForSerial } from '../helpers/certs.js';
import { json, runCli } from '../helpers/cli.js';
import { SSE_EVENTS } from '../helpers/fake-routes.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { holdStream } from '../helpers/held-stream.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

describe('HTTPS from certificate files', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let server: ServeProcess | undefined;
  let env: NodeJS.ProcessEnv;
  let ca: TestPair;
  let agent: Agent;
  let token: string;
  const certFile = (): string => join(temp.dir, 'tls', 'cert.pem');
  const keyFile = (): string => join(temp.dir, 'tls', 'key.pem');
  const install = (pair: { cert: string; key: string }): void => {
    writeFileSync(certFile(), pair.cert);
    writeFileSync(keyFile(), pair.key, { mode: 0o600 });
  };

  beforeAll(async () => {
    temp = tempDir();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(temp.dir, 'tls'));
    mkdirSync(join(temp.dir, 'data'));
    ca = testCa(temp.dir);
    install(testLeaf(temp.dir, ca));
    agent = new Agent({ connect: { ca: ca.cert } });
    upstream = await startFakeUpstream();
    env = { SOAKP_DATA_DIR: join(temp.dir, 'data'), SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    json(await runCli(['user', 'add', 't@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    ({ token } = json<{ token: string }>(await runCli(['token', 'issue', 't@example.com', '--json'], env)));
    env = { ...env, SOAKP_TLS_CERT: certFile(), SOAKP_TLS_KEY: keyFile() };
    const config = join(temp.dir, 'hsts.yaml');
    writeFileSync(config, 'tls:\n  hsts: 1y\n');
    server = await startServe({ ...env, SOAKP_CONFIG: config });
  });

  afterAll(async () => {
    if (server && server.child.exitCode === null) await server.stop();
    await agent?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  it('serves both planes over HTTPS on the port, with HSTS when set; the SDK works with the CA trusted', async () => {
    const url = server?.url as string;
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await request(`${url}/healthz`, { dispatcher: agent });
    expect(health.statusCode).toBe(200);
    expect(health.headers['strict-transport-security']).toBe('max-age=31536000');
    await health.body.dump();
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: token, fetch: ((input: string, init: object) => undiciFetch(input, { ...init, dispatcher: agent })) as unknown as typeof fetch });
    const models = await client.models.list().withResponse();
    expect(models.response.headers.get('strict-transport-security')).toBe('max-age=31536000');
    const chat = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect(chat.choices[0]?.message.content).toBeTypeOf('string');
    // Without the CA, the certificate is not trusted.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    // The test certificates live two days: soakp says so at start.
    expect(server?.output()).toMatch(/"level":40[^\n]*The TLS certificate in [^\n]*cert\.pem expires at [^\n]*; renew it/);
  });

  it('refuses TLS 1.1 (a client that could speak it, and does speak 1.2)', async () => {
    const { hostname, port } = new URL(server?.url as string);
    // SECLEVEL=0 lets this client offer TLS 1.0/1.1 at all: the refusal must come from the server.
    const attempt = (maxVersion: 'TLSv1.1' | 'TLSv1.2') =>
      new Promise<string>((resolve) => {
        const socket = connect({ host: hostname, port: Number(port), ca: ca.cert, servername: 'localhost', minVersion: 'TLSv1', maxVersion, ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
    expect(await attempt('TLSv1.2')).toBe('connected');
    expect(await attempt('TLSv1.1')).toMatch(/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/);
  });

  it('picks up replaced files (rename, then in place) while an open stream goes on unbroken', async () => {
    const url = server?.url as string;
    const stream = await holdStream(url, agent, token, upstream);

    // Atomic replacement: new files renamed over the old ones.
    const second = testLeaf(temp.dir, ca);
    writeFileSync(`${certFile()}.new`, second.cert);
    writeFileSync(`${keyFile()}.new`, second.key, { mode: 0o600 });
    renameSync(`${keyFile()}.new`, keyFile());
    renameSync(`${certFile()}.new`, certFile());
    await waitForSerial(url, ca.cert, second.serial);

    // In place: the same files overwritten.
    const third = testLeaf(temp.dir, ca);
    install(third);
    await waitForSerial(url, ca.cert, third.serial);

    const events = await stream.finish();
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(events.length).toBeGreaterThanOrEqual(SSE_EVENTS.length);
    expect(server?.output()).not.toMatch(/was refused/);
  });

  it('keeps the certificate in use when a broken pair replaces it, and logs why without key material', async () => {
    const url = server?.url as string;
    const before = await servedSerial(url, ca.cert);
    const other = testLeaf(temp.dir, ca);
    writeFileSync(certFile(), other.cert); // a certificate whose key is not the one beside it
    await waitFor(() => server?.output() ?? '', /was refused[^\n]*does not belong/);
    expect(await servedSerial(url, ca.cert)).toBe(before);
    writeFileSync(certFile(), 'garbage\n');
    await waitFor(() => server?.output() ?? '', /was refused[^\n]*does not hold a PEM certificate/);
    expect(await servedSerial(url, ca.cert)).toBe(before);
    const out = server?.output() ?? '';
    expect(out).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    expect(out.match(/"level":50/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
  });
});

describe('bad TLS settings are refused before anything starts', () => {
  let temp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;
  let a: TestPair;
  let b: TestPair;

  beforeAll(() => {
    temp = tempDir();
    const ca = testCa(temp.dir);
    a = testLeaf(temp.dir, ca);
    b = testLeaf(temp.dir, ca);
    writeFileSync(join(temp.dir, 'a.pem'), a.cert);
    writeFileSync(join(temp.dir, 'b.key'), b.key);
    env = { SOAKP_DATA_DIR: join(temp.dir, 'data'), SOAKP_MASTER_KEY: randomMasterKey() };
  });

  afterAll(() => temp?.cleanup());

  const cases: Array<[string, () => string[], RegExp]> = [
    ['a mismatched pair', () => ['--tls-cert', join(temp.dir, 'a.pem'), '--tls-key', join(temp.dir, 'b.key')], /The private key in .*b\.key does not belong to the certificate in .*a\.pem/],
    ['an unreadable file', () => ['--tls-cert', join(temp.dir, 'missing.pem'), '--tls-key', join(temp.dir, 'b.key')], /Cannot read the TLS certificate file .*missing\.pem \(ENOENT\)/],
    ['only a certificate', () => ['--tls-cert', join(temp.dir, 'a.pem')], /tls: give both cert and key \(--tls-cert and --tls-key\), or neither/],
  ];
  for (const [what, args, message] of cases) {
    it(`serve and config check report ${what}`, async () => {
      await expect(startServe(env, args())).rejects.toThrow(message);
      const flags = args();
      const tlsEnv = { SOAKP_TLS_CERT: flags[1], ...(flags[3] ? { SOAKP_TLS_KEY: flags[3] } : {}) };
      const check = await runCli(['config', 'check'], { ...env, ...tlsEnv });
      expect(check.code).toBe(2);
      expect(check.stderr).toMatch(message);
      expect(check.stderr).not.toMatch(/PRIVATE KEY/);
    });
  }
});

describe('tls.minVersion 1.3', () => {
  it('refuses a TLS 1.2 client and serves a 1.3 one', async () => {
    const temp = tempDir();
    const ca = testCa(temp.dir);
    const leaf = testLeaf(temp.dir, ca);
    writeFileSync(join(temp.dir, 'c.pem'), leaf.cert);
    writeFileSync(join(temp.dir, 'k.pem'), leaf.key);
    writeFileSync(join(temp.dir, 'c.yaml'), 'tls:\n  minVersion: "1.3"\n');
    const env = { SOAKP_DATA_DIR: join(temp.dir, 'data'), SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_CONFIG: join(temp.dir, 'c.yaml') };
    const server = await startServe(env, ['--tls-cert', join(temp.dir, 'c.pem'), '--tls-key', join(temp.dir, 'k.pem')]);
    try {
      const { hostname, port } = new URL(server.url);
      const attempt = (maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
        new Promise<string>((resolve) => {
          const socket = connect({ host: hostname, port: Number(port), ca: ca.cert, servername: 'localhost', maxVersion }, () => {
            resolve(socket.getProtocol() ?? 'none');
            socket.destroy();
          });
          socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        });
      expect(await attempt('TLSv1.3')).toBe('TLSv1.3');
      expect(await attempt('TLSv1.2')).toMatch(/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/);
    } finally {
      await server.stop();
      temp.cleanup();
    }
  });
});
