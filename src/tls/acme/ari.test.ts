import { X509Certificate, createHash, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { issueCertificate } from '../x509.js';
import { authorityKeyId, certId, certIdOf, renewalWindow } from './ari.js';

const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('ACME Renewal Information (RFC 9773)', () => {
  it("builds the RFC's example certID, adding the serial's sign octet", () => {
    const keyId = Buffer.from('69885B6B87464041E1B37B847BA0AE2CDE01C8D4', 'hex');
    expect(certIdOf(keyId, '87654321')).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
    expect(certIdOf(keyId, '7654321')).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.B2VDIQ');
  });

  it("reads the issuer's key identifier from a certificate's AKI extension", () => {
    const ca = ec();
    const leaf = ec();
    const pem = issueCertificate({ subject: 'a.test', publicKey: leaf.publicKey, names: ['a.test'], issuer: { name: 'CA', ...ca }, notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000) });
    const expected = createHash('sha1').update(ca.publicKey.export({ type: 'spki', format: 'der' })).digest();
    expect(authorityKeyId(new X509Certificate(pem).raw)).toEqual(expected);
    expect(certId(pem)).toBe(certIdOf(expected, new X509Certificate(pem).serialNumber));
    expect(authorityKeyId(Buffer.from([0x30, 0x00]))).toBeUndefined();
  });

  it("asks the directory's renewalInfo for the certificate's window; none when the CA offers none", async () => {
    const ca = ec();
    const self = ec();
    const tlsCert = issueCertificate({ subject: '127.0.0.1', publicKey: self.publicKey, names: ['127.0.0.1'], issuer: { name: '127.0.0.1', ...self }, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) });
    const leaf = issueCertificate({ subject: 'a.test', publicKey: ec().publicKey, names: ['a.test'], issuer: { name: 'CA', ...ca }, notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000) });
    const asked: string[] = [];
    let offer = true;
    const server = createServer({ cert: tlsCert, key: self.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }, (req, res) => {
      asked.push(req.url ?? '');
      const { port } = server.address() as AddressInfo;
      const body = req.url === '/dir' ? { newOrder: 'x', ...(offer ? { renewalInfo: `https://127.0.0.1:${port}/ari/` } : {}) }
        : { suggestedWindow: { start: '2027-01-01T00:00:00Z', end: '2027-01-02T00:00:00Z' } };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const dir = `https://127.0.0.1:${(server.address() as AddressInfo).port}/dir`;
      expect(await renewalWindow(dir, tlsCert, leaf)).toEqual({ start: Date.parse('2027-01-01T00:00:00Z'), end: Date.parse('2027-01-02T00:00:00Z') });
      expect(asked).toEqual(['/dir', `/ari/${certId(leaf)}`]);
      offer = false;
      expect(await renewalWindow(dir, tlsCert, leaf)).toBeUndefined();
      // An untrusted server is as good as none: the third-of-lifetime rule stands.
      expect(await renewalWindow(dir, undefined, leaf)).toBeUndefined();
    } finally {
      server.close();
    }
  });
});
