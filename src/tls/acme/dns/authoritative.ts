import { Resolver } from 'node:dns/promises';

/** One authoritative name server of a zone and where to ask it (`ip:port`, `[ip6]:port`; IPv4 first). */
export interface NameServer {
  readonly host: string;
  readonly addresses: readonly string[];
}

export interface Authoritative {
  /** The name to ask for: the record's own, or the end of its CNAME chain (a delegated `_acme-challenge`). */
  readonly name: string;
  /** The closest zone holding `name`: where the NS records are. */
  readonly zone: string;
  readonly servers: readonly NameServer[];
}

export interface DiscoveryOptions {
  /** The resolvers that find the name servers (`ip` or `ip:port`); default the system's. */
  readonly discoveryResolvers?: readonly string[];
  /** The port the found servers are asked at (NS records carry none). */
  readonly nameserverPort: number;
  /** The bound of each lookup. */
  readonly queryMs: number;
}

/** Answers that say "no such record", as opposed to a lookup that failed. */
const ABSENT = new Set(['ENODATA', 'ENOTFOUND']);
const MAX_CNAMES = 8;

/**
 * The authoritative servers of the zone `name` is in: follow its CNAMEs, then walk up from it
 * until a name has NS records, and resolve those. Rejects with the reason when any lookup fails
 * or nothing is found; a name server without an address is left out, as the CA would.
 */
export async function findAuthoritative(name: string, options: DiscoveryOptions): Promise<Authoritative> {
  const resolver = new Resolver({ timeout: options.queryMs, tries: 1 });
  if (options.discoveryResolvers !== undefined && options.discoveryResolvers.length > 0) resolver.setServers([...options.discoveryResolvers]);
  const target = await followCnames(resolver, name);
  const { zone, hosts } = await closestNs(resolver, target);
  const servers: NameServer[] = [];
  for (const host of [...hosts].sort()) {
    const [v4, v6] = await Promise.all([absentAsEmpty(resolver.resolve4(host)), absentAsEmpty(resolver.resolve6(host))]);
    const addresses = [...v4.map((ip) => `${ip}:${options.nameserverPort}`), ...v6.map((ip) => `[${ip}]:${options.nameserverPort}`)];
    if (addresses.length > 0) servers.push({ host, addresses });
  }
  if (servers.length === 0) throw new Error(`no name server of ${zone} has an address (${hosts.join(', ')})`);
  return { name: target, zone, servers };
}

async function followCnames(resolver: Resolver, name: string): Promise<string> {
  let current = name;
  for (let hops = 0; hops < MAX_CNAMES; hops++) {
    const [next] = await absentAsEmpty(resolver.resolveCname(current));
    if (next === undefined) return current;
    current = next.replace(/\.$/, '');
  }
  throw new Error(`${name}: more than ${MAX_CNAMES} CNAMEs`);
}

/** Stops above a top-level domain: its servers never hold the record. */
async function closestNs(resolver: Resolver, name: string): Promise<{ zone: string; hosts: string[] }> {
  const labels = name.split('.');
  for (let i = 0; labels.length - i >= 2; i++) {
    const zone = labels.slice(i).join('.');
    const hosts = await absentAsEmpty(resolver.resolveNs(zone));
    if (hosts.length > 0) return { zone, hosts };
  }
  throw new Error(`no NS records for ${name} or the names above it`);
}

async function absentAsEmpty<T>(lookup: Promise<T[]>): Promise<T[]> {
  try {
    return await lookup;
  } catch (err) {
    if (ABSENT.has((err as NodeJS.ErrnoException).code ?? '')) return [];
    throw err;
  }
}
