import { type Socket, createSocket } from 'node:dgram';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { nameRdata, readQuestion, reply, txtRdata } from './dns-wire.js';

/**
 * A tiny authoritative DNS server on 127.0.0.1 (UDP) for ACME tests: every name has A 127.0.0.1
 * (so Pebble dials the test's HTTP-01 server, and a name server found by NS is this one), no
 * AAAA, the NS and CNAME records set with `setNs` and `setCname`, and the TXT records set through
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
  /** `zone` is served by the name servers `hosts`. */
  setNs(zone: string, hosts: readonly string[]): void;
  /** A CNAME at `name`, given to CNAME queries only (enough for a client that follows it itself). */
  setCname(name: string, target: string): void;
  /** Every question asked so far, as `TYPE name` (`NS example.test`). */
  readonly queries: readonly string[];
  close(): Promise<void>;
}

export interface TestDnsOptions {
  /**
   * What the n-th TXT query (from 1) for `name` gets, given its records: default, the records.
   * Lets a test play several servers behind the one address, each seeing some queries.
   */
  readonly answerTxt?: (name: string, n: number, records: string[]) => string[];
}

const key = (name: string): string => name.toLowerCase().replace(/\.$/, '');

export async function startTestDns(options: TestDnsOptions = {}): Promise<TestDns> {
  const records = new Map<string, string[]>();
  const ns = new Map<string, readonly string[]>();
  const cnames = new Map<string, string>();
  const queries: string[] = [];
  const txtQueries = new Map<string, number>();
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
  const answer = (name: string, type: string): Buffer[] => {
    if (type === 'A') return [Buffer.from([127, 0, 0, 1])];
    if (type === 'NS') return (ns.get(key(name)) ?? []).map(nameRdata);
    const cname = cnames.get(key(name));
    if (type === 'CNAME') return cname === undefined ? [] : [nameRdata(cname)];
    if (type !== 'TXT') return [];
    const n = (txtQueries.get(key(name)) ?? 0) + 1;
    txtQueries.set(key(name), n);
    const values = [...(records.get(key(name)) ?? [])];
    return (options.answerTxt?.(key(name), n, values) ?? values).map(txtRdata);
  };
  udp.on('message', (msg, peer) => {
    const question = readQuestion(msg);
    if (question === undefined) return;
    queries.push(`${question.type} ${key(question.name)}`);
    udp.send(reply(msg, question, answer(question.name, question.type)), peer.port, peer.address);
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
    setNs: (zone, hosts) => void ns.set(key(zone), [...hosts]),
    setCname: (name, target) => void cnames.set(key(name), target),
    queries,
    close: async () => {
      control.closeAllConnections();
      await Promise.all([new Promise<void>((resolve) => udp.close(() => resolve())), new Promise<void>((resolve) => control.close(() => resolve()))]);
    },
  };
}
