import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the fake saw it; `body` is the raw XML. */
export interface Route53Request {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly auth: string;
  readonly body: string;
}

export interface FakeZone {
  readonly id: string;
  readonly name: string;
  readonly private?: boolean;
}

interface RecordSet {
  name: string;
  type: string;
  ttl: number;
  values: string[];
}

export interface FakeRoute53 {
  readonly base: string;
  readonly requests: Route53Request[];
  /** A record set's values, quoted as Route 53 keeps TXT strings; undefined when there is none. */
  values(zone: string, name: string, type?: string): string[] | undefined;
  setRecord(zone: string, name: string, type: string, values: string[], ttl?: number): void;
  close(): Promise<void>;
}

export interface FakeRoute53Options {
  readonly zones: readonly FakeZone[];
  /** GetChange answers PENDING this many times for each change before INSYNC. */
  readonly pendingPolls?: number;
  /** An error to answer a request with instead: AWS's XML error document. */
  readonly fail?: (req: Route53Request) => { status: number; code: string; message: string } | undefined;
}

const NS = 'https://route53.amazonaws.com/doc/2013-04-01/';
const esc = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const unesc = (text: string): string =>
  text.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const tags = (xml: string, tag: string): string[] => [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]!);
const tag = (xml: string, name: string): string => unesc(tags(xml, name)[0] ?? '');
/** Route 53's listing order: by the name's labels reversed (`com.example.a`), then by type. */
const order = (name: string, type = ''): string => `${name.toLowerCase().replace(/\.$/, '').split('.').reverse().join('.')}\u0000${type}`;
/** AWS's XML error document, as the SDK parses it. */
const error = (status: number, code: string, message: string): { status: number; xml: string } => ({
  status,
  xml: `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${esc(message)}</Message></Error><RequestId>r1</RequestId></ErrorResponse>`,
});
const ok = (root: string, inner: string): { status: number; xml: string } => ({ status: 200, xml: `<${root} xmlns="${NS}">${inner}</${root}>` });
const changeInfo = (id: string, status: string): string => `<ChangeInfo><Id>/change/${id}</Id><Status>${status}</Status><SubmittedAt>2025-01-01T00:00:00Z</SubmittedAt></ChangeInfo>`;
/** The page of `items` from `from` on, in Route 53's order. */
const page = <T>(items: readonly T[], key: (item: T) => string, from: string, max: string | undefined): T[] =>
  items.filter((item) => key(item) >= from).sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)).slice(0, Number(max ?? 100));
const setXml = (set: RecordSet): string =>
  `<ResourceRecordSet><Name>${esc(set.name)}</Name><Type>${set.type}</Type><TTL>${set.ttl}</TTL><ResourceRecords>${set.values
    .map((value) => `<ResourceRecord><Value>${esc(value)}</Value></ResourceRecord>`)
    .join('')}</ResourceRecords></ResourceRecordSet>`;

/**
 * A fake Route 53 REST-XML API on 127.0.0.1: ListHostedZonesByName, ListResourceRecordSets,
 * ChangeResourceRecordSets (CREATE, UPSERT, DELETE of an exactly matching set) and GetChange.
 * It records every request.
 */
export async function fakeRoute53(options: FakeRoute53Options): Promise<FakeRoute53> {
  const requests: Route53Request[] = [];
  const sets = new Map<string, RecordSet[]>(options.zones.map((zone) => [zone.id, []]));
  const polls = new Map<string, number>();
  const find = (zone: string, name: string, type: string): RecordSet | undefined =>
    sets.get(zone)?.find((set) => set.name === name.toLowerCase() && set.type === type);
  const setRecord = (zone: string, name: string, type: string, values: string[], ttl = 300): void => {
    const list = (sets.get(zone) ?? []).filter((set) => !(set.name === name.toLowerCase() && set.type === type));
    sets.set(zone, [...list, { name: name.toLowerCase(), type, ttl, values: [...values] }]);
  };
  const applyBatch = (zone: string, body: string): string | undefined => {
    for (const change of tags(body, 'Change')) {
      const [action, name, type, ttl] = ['Action', 'Name', 'Type', 'TTL'].map((name) => tag(change, name)) as [string, string, string, string];
      const values = tags(change, 'Value').map(unesc);
      const existing = find(zone, name, type);
      if (values.length === 0) return 'a record set needs at least one value';
      if (action === 'CREATE' && existing !== undefined) return `${name} ${type} already exists`;
      if (action === 'DELETE') {
        const same = existing !== undefined && existing.ttl === Number(ttl) && existing.values.join('\n') === values.join('\n');
        if (!same) return `${name} ${type} not found with these values`;
        sets.set(zone, sets.get(zone)!.filter((set) => set !== existing));
      } else setRecord(zone, name, type, values, Number(ttl));
    }
    return undefined;
  };
  const answer = (req: Route53Request): { status: number; xml: string } => {
    const failure = options.fail?.(req);
    if (failure !== undefined) return error(failure.status, failure.code, failure.message);
    const rrset = /^\/2013-04-01\/hostedzone\/([^/]+)\/rrset\/?$/.exec(req.path);
    if (req.method === 'GET' && req.path === '/2013-04-01/hostedzonesbyname') {
      const zones = page(options.zones, (zone) => order(zone.name), order(req.query.dnsname ?? ''), req.query.maxitems).map(
        (z) => `<HostedZone><Id>/hostedzone/${z.id}</Id><Name>${z.name}</Name><CallerReference>${z.id}</CallerReference><Config><PrivateZone>${z.private === true}</PrivateZone></Config></HostedZone>`,
      );
      return ok('ListHostedZonesByNameResponse', `<HostedZones>${zones.join('')}</HostedZones><IsTruncated>false</IsTruncated><MaxItems>${req.query.maxitems}</MaxItems>`);
    }
    if (rrset !== null && sets.has(rrset[1]!) && req.method === 'GET') {
      const listed = page(sets.get(rrset[1]!)!, (set) => order(set.name, set.type), order(req.query.name ?? '', req.query.type), req.query.maxitems);
      return ok('ListResourceRecordSetsResponse', `<ResourceRecordSets>${listed.map(setXml).join('')}</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>${req.query.maxitems}</MaxItems>`);
    }
    if (rrset !== null && sets.has(rrset[1]!) && req.method === 'POST') {
      const refused = applyBatch(rrset[1]!, req.body);
      if (refused !== undefined) return error(400, 'InvalidChangeBatch', refused);
      const id = `C${polls.size + 1}`;
      polls.set(id, 0);
      return ok('ChangeResourceRecordSetsResponse', changeInfo(id, 'PENDING'));
    }
    const change = /^\/2013-04-01\/change\/([^/]+)$/.exec(req.path);
    if (req.method === 'GET' && change !== null && polls.has(change[1]!)) {
      const seen = polls.get(change[1]!)!;
      polls.set(change[1]!, seen + 1);
      return ok('GetChangeResponse', changeInfo(change[1]!, seen >= (options.pendingPolls ?? 0) ? 'INSYNC' : 'PENDING'));
    }
    return error(404, 'NoSuchHostedZone', `no route for ${req.method} ${req.path}`);
  };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const recorded = { method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), auth: req.headers.authorization ?? '', body };
      requests.push(recorded);
      const { status, xml } = answer(recorded);
      res.writeHead(status, { 'content-type': 'text/xml' }).end(`<?xml version="1.0" encoding="UTF-8"?>\n${xml}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    values: (zone, name, type = 'TXT') => find(zone, name, type)?.values,
    setRecord,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
