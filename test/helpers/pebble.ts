import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { connect, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { SERVICES_REQUIRED } from './services.js';
import { tempDir } from './temp.js';

/**
 * Debian's `pebble` (Let's Encrypt's test ACME server) on free loopback ports, with a fresh TLS
 * certificate and config in a temp dir. Its challenges resolve names through `dnsServer` (the
 * tests' own, see dns-server.ts) and HTTP-01 dials `httpPort`.
 */
export interface Pebble {
  readonly directoryUrl: string;
  /** The certificate Pebble's HTTPS listeners are served with: trust it to talk to Pebble. */
  readonly tlsCaPem: string;
  /** The root that issued certificates chain to (new at every start). */
  readonly rootPem: string;
  /** The intermediate that signs leaves. */
  readonly intermediatePem: string;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  readonly dnsServer: string;
  readonly httpPort: number;
  /** External Account Binding keys, kid → base64url HMAC key; makes EAB required. */
  readonly eab?: Record<string, string>;
}

const BINARY = 'pebble';

/** True when Debian's pebble is on PATH; prints why a suite skips when it is not (CI fails instead). */
export function pebbleAvailable(suite: string): boolean {
  const found = (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, BINARY)));
  if (!found && !SERVICES_REQUIRED) {
    console.warn(`pebble is not installed (apt-get install -y pebble): skipping "${suite}" (set SOAKP_TEST_REQUIRE_SERVICES=1 to fail instead).`);
  }
  return found || SERVICES_REQUIRED;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const { dir, cleanup } = tempDir('soakp-pebble-');
  const [key, crt, config] = ['pebble.key', 'pebble.crt', 'pebble.json'].map((name) => join(dir, name)) as [string, string, string];
  execFileSync('openssl', [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-days', '2', '-nodes', '-subj', '/CN=pebble'],
    ...['-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', crt],
  ], { stdio: 'ignore' });
  const [acmePort, managementPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const eab = options.eab ?? {};
  const pebble = {
    listenAddress: `127.0.0.1:${acmePort}`,
    managementListenAddress: `127.0.0.1:${managementPort}`,
    certificate: crt,
    privateKey: key,
    httpPort: options.httpPort,
    tlsPort,
    ocspResponderURL: '',
    externalAccountBindingRequired: Object.keys(eab).length > 0,
    externalAccountMACKeys: eab,
  };
  writeFileSync(config, JSON.stringify({ pebble }));
  const child: ChildProcess = spawn(BINARY, ['-config', config, '-dnsserver', options.dnsServer], {
    // No random sleep before validating, no rejected nonces, a fresh authorization every order:
    // fast and the same at every run.
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A binary that is not there emits 'error' and no 'exit'.
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const stop = async (): Promise<void> => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    cleanup();
  };
  try {
    await waitForLine(child, 'ACME directory available at', 10_000);
    await Promise.all([waitForPort(acmePort, 10_000), waitForPort(managementPort, 10_000)]);
    const tlsCaPem = readFileSync(crt, 'utf8');
    const rootPem = await httpsText(`https://127.0.0.1:${managementPort}/roots/0`, tlsCaPem);
    const intermediatePem = await httpsText(`https://127.0.0.1:${managementPort}/intermediates/0`, tlsCaPem);
    return { directoryUrl: `https://127.0.0.1:${acmePort}/dir`, tlsCaPem, rootPem, intermediatePem, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Resolves when the process prints `text`; rejects when it exits first or `withinMs` passes. */
function waitForLine(child: ChildProcess, text: string, withinMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`pebble did not start within ${withinMs} ms: ${output.slice(-500)}`)), withinMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pebble exited with ${code}: ${output.slice(-500)}`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`pebble could not start (apt-get install -y pebble): ${err.message}`));
    });
  });
}

/** Pebble logs its addresses just before it listens: connect until one succeeds, within a bound. */
async function waitForPort(port: number, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function httpsText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { ca, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url} answered ${res.statusCode}`))));
    }).on('error', reject);
  });
}
