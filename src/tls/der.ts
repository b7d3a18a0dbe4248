/**
 * The few DER encodings (ITU-T X.690) an X.509 certificate needs. Node 20 parses
 * certificates (X509Certificate) but cannot build one; this and x509.ts do, with no package.
 */
export type Der = Buffer;

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer): Der {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

export const sequence = (...items: Der[]): Der => tlv(0x30, Buffer.concat(items));
export const set = (...items: Der[]): Der => tlv(0x31, Buffer.concat(items));
/** `[n] EXPLICIT`: the encoding wrapped in a constructed context tag. */
export const explicit = (n: number, inner: Der): Der => tlv(0xa0 | n, inner);
/** `[n] IMPLICIT` primitive: the content under a context tag. */
export const implicit = (n: number, content: Buffer): Der => tlv(0x80 | n, content);
export const boolean = (value: boolean): Der => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
export const octetString = (content: Buffer): Der => tlv(0x04, content);
export const utf8 = (text: string): Der => tlv(0x0c, Buffer.from(text, 'utf8'));
/** A BIT STRING of whole bytes, or with `unused` trailing bits (named-bit lists, X.690 §11.2.2). */
export const bitString = (content: Buffer, unused = 0): Der => tlv(0x03, Buffer.concat([Buffer.from([unused]), content]));

/** A non-negative INTEGER from big-endian bytes (a leading 0 added when the top bit is set). */
export function unsigned(bytes: Buffer): Der {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start += 1;
  const trimmed = bytes.subarray(start);
  return tlv(0x02, (trimmed[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

export function oid(dotted: string): Der {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const groups: number[] = [];
    for (let v = arc; ; v = Math.floor(v / 128)) {
      groups.unshift((v & 0x7f) | (groups.length > 0 ? 0x80 : 0));
      if (v < 128) break;
    }
    bytes.push(...groups);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(at: Date): Der {
  const iso = at.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return at.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
}
