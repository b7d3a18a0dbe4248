import { readFileSync, readdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type PeerCertificate, connect } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, runCli } from '../helpers/cli.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';
import { randomMasterKey, tempDir } from '../helpers/temp.js';

function peer(url: string, ca: string, servername = 'localhost'): Promise<PeerCertificate> {
  const { hostname: host, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port), ca, servername }, () => {
      resolve(socket.getPeerCertificate());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

/** Every file under `dir`, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe('HTTPS from a local CA', () => {
  let temp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;
  let server: ServeProcess | undefined;
  const outputs: string[] = [];

  beforeAll(() => {
    temp = tempDir();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey() };
  });

  afterAll(async () => {
    if (server && server.child.exitCode === null) await server.stop();
    temp?.cleanup();
  });

  const caPem = async (): Promise<string> => {
    const r = await runCli(['tls', 'ca'], env);
    expect(r.code).toBe(0);
    outputs.push(r.stdout, r.stderr);
    return r.stdout;
  };

  it('creates the CA once, serves a leaf for the default names that a client trusting only the CA accepts', async () => {
    server = await startServe(env, ['--tls', 'local']);
    expect(server.url).toMatch(/^https:/);
    const ca = await caPem();
    expect(ca).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    expect(ca).not.toMatch(/PRIVATE KEY/);
    const agent = new Agent({ connect: { ca, servername: 'localhost' } });
    const res = await request(`${server.url}/healthz`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toEqual({ status: 'ok' });
    await agent.close();
    // Without the CA the certificate is not trusted.
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    const leaf = await peer(server.url, ca);
    for (const name of ['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1', `DNS:${hostname()}`]) expect(leaf.subjectaltname).toContain(name);
    outputs.push(server.output());
    expect(await server.stop()).toBe(0);

    // A second start reuses the CA.
    // At the most verbose level: still no key in the logs (checked below).
    server = await startServe(env, ['--tls', 'local', '--tls-name', 'box.test', '--log-level', 'trace']);
    expect(await caPem()).toBe(ca);
    const second = await peer(server.url, ca, 'box.test');
    expect(second.subjectaltname).toBe('DNS:box.test');
    outputs.push(server.output());
    expect(await server.stop()).toBe(0);
    expect(readFileSync(join(temp.dir, 'local-ca.pem'), 'utf8')).toBe(ca);
  });

  it('keeps the CA key out of the data directory in plain text, and out of every output', async () => {
    for (const file of files(temp.dir)) expect(readFileSync(file).includes('PRIVATE KEY'), file).toBe(false);
    expect(outputs.join('\n')).not.toMatch(/PRIVATE KEY/);
    const asJson = json<{ certificate: string }>(await runCli(['tls', 'ca', '--json'], env));
    expect(asJson.certificate).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });
});
