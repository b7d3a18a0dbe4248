// What the HTTPS benchmark (bench/tls.mjs) serves with, the same for soakp and nginx: one
// self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost, made with `openssl` at the
// start of a run; TLS 1.3 only, with one cipher suite; X25519 for the key exchange (both
// servers' default, and the group every client here offers first). Each server is pinned on
// its own side (nginx: ssl_protocols and ssl_conf_command; soakp: Node's --tls-cipher-list,
// which with TLS 1.3 suites only also turns TLS 1.2 off), and `negotiated` checks what a
// default client gets.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { hasProgram } from './proc.mjs';

export const TLS_PIN = { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', group: 'X25519', certificate: 'ECDSA P-256, self-signed' };
/** Node options for soakp (and bench/bare.mjs) with TLS: the cipher suite above and nothing else (so TLS 1.3 only). */
export const NODE_TLS_ARGS = [`--tls-cipher-list=${TLS_PIN.cipher}`];
/** nginx directives (inside `server {}`) for the same. */
export const NGINX_TLS_DIRECTIVES = ['ssl_protocols TLSv1.3;', `ssl_conf_command Ciphersuites ${TLS_PIN.cipher};`];

/** Writes cert.pem and key.pem into `dir` (valid 30 days, for 127.0.0.1 and localhost); returns their paths and the certificate's text (the clients' CA). */
export function makeCertificate(dir) {
  if (!hasProgram('openssl')) throw new Error('openssl not found: it makes the benchmark\'s certificate (apt-get install -y openssl)');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { cert, key, ca: readFileSync(cert, 'utf8') };
}

/** GET `url` over HTTPS trusting `ca`; resolves with the status code (rejects when it cannot connect). */
export function httpsStatus(url, ca) {
  return new Promise((resolve, reject) => {
    const req = get(url, { ca, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

/**
 * What a client offering Node's defaults (TLS 1.2 and 1.3, every suite, AES-256 first) gets
 * from 127.0.0.1:`port`: { protocol, cipher, group }.
 */
export function negotiated(port, ca, options = {}) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost', ...options }, () => {
      const out = { protocol: socket.getProtocol(), cipher: socket.getCipher().standardName ?? socket.getCipher().name, group: socket.getEphemeralKeyInfo()?.name ?? null };
      socket.end();
      resolve(out);
    });
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
  });
}

/** Throws unless `port` negotiates exactly TLS_PIN with a default client, and refuses a TLS 1.2 one. */
export async function checkPinned(name, port, ca) {
  const got = await negotiated(port, ca);
  if (got.protocol !== TLS_PIN.protocol || got.cipher !== TLS_PIN.cipher || got.group !== TLS_PIN.group) {
    throw new Error(`${name} negotiated ${got.protocol} ${got.cipher} ${got.group}, not ${TLS_PIN.protocol} ${TLS_PIN.cipher} ${TLS_PIN.group}`);
  }
  const old = await negotiated(port, ca, { maxVersion: 'TLSv1.2' }).catch(() => null);
  if (old) throw new Error(`${name} accepted ${old.protocol} (${old.cipher})`);
  return got;
}
