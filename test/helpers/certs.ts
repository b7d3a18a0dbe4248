import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { type PeerCertificate, connect } from 'node:tls';
import { join } from 'node:path';

/** A certificate and key made at test time with the openssl CLI (no key is ever committed). */
export interface TestPair {
  cert: string;
  key: string;
  serial: string;
}

const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A throw-away CA in `dir`. */
export function testCa(dir: string, name = 'soakp test CA'): TestPair {
  const [cert, key] = [join(dir, `${name}.ca.pem`), join(dir, `${name}.ca.key`)].map((f) => f.replace(/ /g, '-')) as [string, string];
  execFileSync('openssl', ['req', '-x509', ...ec, '-keyout', key, '-out', cert, '-subj', `/CN=${name}`, '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' });
  return read(cert, key);
}

let count = 0;
/** A leaf for localhost and 127.0.0.1, signed by `ca`. */
export function testLeaf(dir: string, ca: { cert: string; key: string }): TestPair {
  const base = join(dir, `leaf-${process.pid}-${++count}`);
  const caCert = `${base}.ca.pem`;
  const caKey = `${base}.ca.key`;
  writeFileSync(caCert, ca.cert);
  writeFileSync(caKey, ca.key, { mode: 0o600 });
  writeFileSync(`${base}.ext`, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  execFileSync('openssl', ['req', '-new', ...ec, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', '/CN=localhost'], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', `${base}.csr`, '-CA', caCert, '-CAkey', caKey, '-set_serial', `0x${(Date.now() * 1000 + count).toString(16)}`,
    '-days', '2', '-extfile', `${base}.ext`, '-out', `${base}.pem`], { stdio: 'ignore' });
  return read(`${base}.pem`, `${base}.key`);
}

function read(certFile: string, keyFile: string): TestPair {
  const cert = readFileSync(certFile, 'utf8');
  return { cert, key: readFileSync(keyFile, 'utf8'), serial: new X509Certificate(cert).serialNumber };
}

/** The certificate a new TLS connection to `url` is served (verified against `ca`: rejects when it is not trusted). */
export function servedCertificate(url: string, ca: string, servername = 'localhost'): Promise<PeerCertificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca, servername }, () => {
      resolve(socket.getPeerCertificate());
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

/** The serial of the certificate a new TLS connection to `url` is served (verified against `ca`). */
export async function servedSerial(url: string, ca: string, servername = 'localhost'): Promise<string> {
  return (await servedCertificate(url, ca, servername)).serialNumber;
}

/** Opens new connections until the served serial is `serial`; fails after `ms`. */
export async function waitForSerial(url: string, ca: string, serial: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  while (Date.now() < deadline) {
    last = await servedSerial(url, ca);
    if (last === serial) return;
    await new Promise((resolve) => setTimeout(resolve, 50)); // a poll interval, not a synchronisation
  }
  throw new Error(`served serial stayed ${last}, expected ${serial}`);
}

/** Resolves once `read()` matches `re`; fails after `ms`. */
export async function waitFor(read: () => string, re: RegExp, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!re.test(read())) {
    if (Date.now() > deadline) throw new Error(`not seen in time: ${re}\n${read()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
