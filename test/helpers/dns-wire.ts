/** The few pieces of the DNS wire format (RFC 1035 §4.1) the test DNS server needs. */
export const TYPES = { A: 1, NS: 2, CNAME: 5, TXT: 16, AAAA: 28 } as const;
export type TypeName = keyof typeof TYPES | `TYPE${number}`;

export interface Question {
  readonly name: string;
  readonly type: TypeName;
  /** Where the question ends in the query (it is copied into the reply). */
  readonly end: number;
}

/** The one question of a query, or undefined for a message that is not a query we can read. */
export function readQuestion(query: Buffer): Question | undefined {
  if (query.length < 12 || (query.readUInt16BE(2) & 0x8000) !== 0 || query.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  while (at < query.length && query[at] !== 0) {
    const length = query[at]!;
    labels.push(query.toString('latin1', at + 1, at + 1 + length));
    at += 1 + length;
  }
  const end = at + 5; // the root label, QTYPE, QCLASS
  if (end > query.length) return undefined;
  const code = query.readUInt16BE(at + 1);
  const type = (Object.keys(TYPES) as Array<keyof typeof TYPES>).find((name) => TYPES[name] === code) ?? (`TYPE${code}` as const);
  return { name: labels.join('.'), type, end };
}

/** A name as RDATA (NS, CNAME): its labels, uncompressed. */
export function nameRdata(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, 'latin1')]));
  return Buffer.concat([...labels, Buffer.from([0])]);
}

/** One TXT value of at most 255 bytes as RDATA. */
export function txtRdata(value: string): Buffer {
  return Buffer.concat([Buffer.from([value.length]), Buffer.from(value, 'latin1')]);
}

/** An authoritative NOERROR reply to `query` with one record per RDATA, of the question's type. */
export function reply(query: Buffer, question: Question, rdatas: readonly Buffer[]): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // ID
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100), 2); // QR, AA, the query's RD; NOERROR
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(rdatas.length, 6);
  const type = query.readUInt16BE(question.end - 4);
  const answers = rdatas.map((rdata) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // a pointer to the question's name
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(0, 6); // TTL 0: tests change records at once
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, query.subarray(12, question.end), ...answers]);
}
