import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { issueCertificate } from './x509.js';

const ec = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('issueCertificate', () => {
  it('makes a CA and a leaf that Node (OpenSSL) reads, verifies and matches to their keys', () => {
    const caKeys = ec();
    const issuer = { name: 'soakp test CA', privateKey: caKeys.privateKey, publicKey: caKeys.publicKey };
    const now = new Date();
    const later = new Date(now.getTime() + 86_400_000);
    const ca = new X509Certificate(issueCertificate({ subject: issuer.name, publicKey: caKeys.publicKey, issuer, notBefore: now, notAfter: new Date('2060-01-01T00:00:00Z'), ca: true }));
    expect(ca.ca).toBe(true);
    expect(ca.verify(caKeys.publicKey)).toBe(true);
    expect(ca.checkPrivateKey(caKeys.privateKey)).toBe(true);
    expect(new Date(ca.validTo).getUTCFullYear()).toBe(2060); // GeneralizedTime
    const leafKeys = ec();
    const names = ['localhost', 'box.example', '127.0.0.1', '::1', 'fe80::12:34', '::ffff:10.0.0.1'];
    const leaf = new X509Certificate(issueCertificate({ subject: 'localhost', publicKey: leafKeys.publicKey, issuer, notBefore: now, notAfter: later, names }));
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(caKeys.publicKey)).toBe(true);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.checkPrivateKey(leafKeys.privateKey)).toBe(true);
    expect(leaf.checkHost('box.example')).toBe('box.example');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.checkIP('::1')).toBe('::1');
    expect(leaf.subjectAltName).toBe('DNS:localhost, DNS:box.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:FE80:0:0:0:0:0:12:34, IP Address:0:0:0:0:0:FFFF:A00:1');
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });
});
