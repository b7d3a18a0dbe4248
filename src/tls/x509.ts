import { type KeyObject, createHash, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';
import { bitString, boolean, explicit, implicit, octetString, oid, sequence, set, time, unsigned, utf8 } from './der.js';

/** What a certificate says (RFC 5280 §4.1): ECDSA P-256 keys, signed with SHA-256. */
export interface CertificateSpec {
  readonly subject: string;
  readonly publicKey: KeyObject;
  readonly issuer: { readonly name: string; readonly privateKey: KeyObject; readonly publicKey: KeyObject };
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** A CA certificate (may sign others), or a server leaf for these DNS names and IP addresses. */
  readonly ca?: boolean;
  readonly names?: readonly string[];
}

const ECDSA_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));
const name = (cn: string) => sequence(set(sequence(oid('2.5.4.3'), utf8(cn))));
const extension = (id: string, critical: boolean, value: Buffer) => sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
const keyId = (key: KeyObject) => createHash('sha1').update(key.export({ type: 'spki', format: 'der' })).digest();

/** A DER certificate, PEM-encoded. */
export function issueCertificate(spec: CertificateSpec): string {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] as number) & 0x7f) | 0x40; // positive, 16 bytes: RFC 5280 §4.1.2.2
  const extensions = spec.ca
    ? [
        extension('2.5.29.19', true, sequence(boolean(true), unsigned(Buffer.from([0])))), // CA, path length 0
        extension('2.5.29.15', true, bitString(Buffer.from([0x06]), 1)), // keyCertSign, cRLSign
      ]
    : [
        extension('2.5.29.19', true, sequence()), // not a CA
        extension('2.5.29.15', true, bitString(Buffer.from([0x80]), 7)), // digitalSignature
        extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'))), // serverAuth
        extension('2.5.29.17', false, sequence(...(spec.names ?? []).map(generalName))),
        extension('2.5.29.35', false, sequence(implicit(0, keyId(spec.issuer.publicKey)))),
      ];
  extensions.push(extension('2.5.29.14', false, octetString(keyId(spec.publicKey))));
  const tbs = sequence(
    explicit(0, unsigned(Buffer.from([2]))), // v3
    unsigned(serial),
    ECDSA_SHA256,
    name(spec.issuer.name),
    sequence(time(spec.notBefore), time(spec.notAfter)),
    name(spec.subject),
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, spec.issuer.privateKey); // DER ECDSA-Sig-Value
  const der = sequence(tbs, ECDSA_SHA256, bitString(signature));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
}

/** RFC 5280 §4.2.1.6: dNSName [2] or iPAddress [7] (4 or 16 bytes). */
function generalName(value: string): Buffer {
  const version = isIP(value);
  if (version === 4) return implicit(7, Buffer.from(value.split('.').map(Number)));
  if (version === 6) return implicit(7, ipv6Bytes(value));
  return implicit(2, Buffer.from(value, 'ascii'));
}

function ipv6Bytes(text: string): Buffer {
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const part = (s: string | undefined) => (s ? s.split(':') : []);
  let groups = part(head);
  let end = part(tail);
  // An IPv4 tail (::ffff:1.2.3.4) is two groups.
  const last = (tail === undefined ? groups : end).at(-1);
  if (last?.includes('.')) {
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number];
    const v4 = [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    if (tail === undefined) groups = [...groups.slice(0, -1), ...v4];
    else end = [...end.slice(0, -1), ...v4];
  }
  const all = tail === undefined ? groups : [...groups, ...Array<string>(8 - groups.length - end.length).fill('0'), ...end];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
