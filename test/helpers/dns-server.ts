import { type Socket, createSocket } from 'node:dgram';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tiny authoritative DNS server on 127.0.0.1 (UDP) for ACME tests: every name has A 127.0.0.1
 * (so Pebble dials the test's HTTP-01 server), no AAAA, and the TXT records set through
 * `setTxt` or its HTTP control endpoint (`POST /present` and `/cleanup`, JSON `{fqdn, value}`,
 * for a DNS hook running as a separate process). RFC 1035 §4.1 messages, one question each.
 */
export interface TestDns {
  /** `127.0.0.1:<port>`, for Pebble's `-dnsserver` and a Resolver's `setServers`. */
  readonly address: string;
  /** `http://127.0.0.1:<port>`, the control endpoint. */
  readonly controlUrl: string;
  setTxt(name: string, value: string): void;
  removeTxt(name: string, value: string): void;
  txt(name: string): string[];
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_TXT = 16;
const key = (name: string): string => name.toLowerCase().replace(/\.$/, '');

export async function startTestDns(): Promise<TestDns> {
  const records = new Map<string, string[]>();
  const setTxt = (name: string, value: string): void => {
    const values = records.get(key(name)) ?? [];
    if (!values.includes(value)) values.push(value);
    records.set(key(name), values);
  };
  const removeTxt = (name: string, value: string): void => {
    const values = (records.get(key(name)) ?? []).filter((v) => v !== value);
    if (values.length === 0) records.delete(key(name));
    else records.set(key(name), values);
  };

  const udp: Socket = createSocket('udp4');
  udp.on('message', (msg, peer) => {
    const answer = respond(msg, (name) => records.get(key(name)) ?? []);
    if (answer !== undefined) udp.send(answer, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));

  const control: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const { fqdn, value } = JSON.parse(body || '{}') as { fqdn?: string; value?: string };
      if (fqdn === undefined || value === undefined || (req.url !== '/present' && req.url !== '/cleanup')) {
        res.writeHead(400).end();
        return;
      }
      if (req.url === '/present') setTxt(fqdn, value);
      else removeTxt(fqdn, value);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));

  return {
    address: `127.0.0.1:${udp.address().port}`,
    controlUrl: `http://127.0.0.1:${(control.address() as AddressInfo).port}`,
    setTxt,
    removeTxt,
    txt: (name) => [...(records.get(key(name)) ?? [])],
    close: async () => {
      control.closeAllConnections();
      await Promise.all([new Promise<void>((resolve) => udp.close(() => resolve())), new Promise<void>((resolve) => control.close(() => resolve()))]);
    },
  };
}

/** The answer to one query, or undefined for a message that is not a query we can read. */
function respond(query: Buffer, txtOf: (name: string) => string[]): Buffer | undefined {
  if (query.length < 12 || (query.readUInt16BE(2) & 0x8000) !== 0 || query.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  while (at < query.length && query[at] !== 0) {
    const length = query[at]!;
    labels.push(query.toString('latin1', at + 1, at + 1 + length));
    at += 1 + length;
  }
  const questionEnd = at + 5; // the root label, QTYPE, QCLASS
  if (questionEnd > query.length) return undefined;
  const qtype = query.readUInt16BE(at + 1);
  const name = labels.join('.');
  const rdatas: Buffer[] =
    qtype === TYPE_A
      ? [Buffer.from([127, 0, 0, 1])]
      : qtype === TYPE_TXT
        ? txtOf(name).map((value) => Buffer.concat([Buffer.from([value.length]), Buffer.from(value, 'latin1')]))
        : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // ID
  header.writeUInt16BE(0x8400 | (query.readUInt16BE(2) & 0x0100), 2); // QR, AA, the query's RD; NOERROR
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(rdatas.length, 6);
  const answers = rdatas.map((rdata) => {
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // a pointer to the question's name
    rr.writeUInt16BE(qtype, 2);
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(0, 6); // TTL 0: tests change records at once
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...answers]);
}
