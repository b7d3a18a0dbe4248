import { X509Certificate } from 'node:crypto';
import { get } from 'node:https';

/** RFC 9773 §4.3: the window the CA suggests for renewing, epoch ms. */
export interface RenewalWindow {
  readonly start: number;
  readonly end: number;
}

const AKI = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]); // OID 2.5.29.35, authorityKeyIdentifier

/** RFC 9773 §4.1: base64url(keyIdentifier of the AKI) "." base64url(the serial's DER content octets). */
export function certId(certPem: string): string | undefined {
  const cert = new X509Certificate(certPem);
  const keyId = authorityKeyId(cert.raw);
  return keyId === undefined ? undefined : certIdOf(keyId, cert.serialNumber);
}

export function certIdOf(keyId: Buffer, serialHex: string): string {
  let serial = Buffer.from(serialHex.length % 2 === 0 ? serialHex : `0${serialHex}`, 'hex');
  // DER integers are signed: a serial whose top bit is set carries a leading zero octet.
  if (((serial[0] ?? 0) & 0x80) !== 0) serial = Buffer.concat([Buffer.from([0]), serial]);
  return `${keyId.toString('base64url')}.${serial.toString('base64url')}`;
}

/** The keyIdentifier ([0]) of the certificate's AKI extension: OID, optional critical flag, OCTET STRING { SEQUENCE { [0] … } }. */
export function authorityKeyId(der: Buffer): Buffer | undefined {
  const at = der.indexOf(AKI);
  if (at < 0) return undefined;
  let i = at + AKI.length;
  if (der[i] === 0x01) i += 3; // BOOLEAN critical
  const read = (tag: number): Buffer | undefined => {
    if (der[i] !== tag) return undefined;
    let len = der[i + 1] ?? 0;
    let head = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = der.subarray(i + 2, i + 2 + n).reduce((acc, b) => acc * 256 + b, 0);
      head += n;
    }
    const content = der.subarray(i + head, i + head + len);
    i += head; // step inside: the next read is of the content's first element
    return content;
  };
  if (read(0x04) === undefined || read(0x30) === undefined) return undefined;
  return read(0x80);
}

/**
 * The CA's suggested renewal window for `certPem` (ACME Renewal Information), or undefined when
 * the directory offers none or does not answer: then the third-of-lifetime rule stands alone.
 */
export async function renewalWindow(directoryUrl: string, caPem: string | undefined, certPem: string): Promise<RenewalWindow | undefined> {
  const id = certId(certPem);
  if (id === undefined) return undefined;
  const directory = (await getJson(directoryUrl, caPem)) as { renewalInfo?: unknown } | undefined;
  if (typeof directory?.renewalInfo !== 'string') return undefined;
  const info = (await getJson(`${directory.renewalInfo.replace(/\/$/, '')}/${id}`, caPem)) as { suggestedWindow?: { start?: unknown; end?: unknown } } | undefined;
  const start = Date.parse(String(info?.suggestedWindow?.start));
  const end = Date.parse(String(info?.suggestedWindow?.end));
  return Number.isFinite(start) && Number.isFinite(end) && end > start ? { start, end } : undefined;
}

function getJson(url: string, caPem: string | undefined): Promise<unknown> {
  return new Promise((resolve) => {
    const req = get(url, { ...(caPem === undefined ? {} : { ca: caPem }), timeout: 10_000, headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(undefined));
  });
}
