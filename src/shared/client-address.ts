import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** Who sent a request, as far as the proxy can tell. */
export interface Client {
  /** The client's IP address (IPv4-mapped IPv6 written as IPv4); null once the socket is gone. */
  readonly address: string | null;
  /** Whether the client reached the first proxy (or soakp itself) over HTTPS. */
  readonly secure: boolean;
}

/** An IP address or a CIDR (`10.0.0.0/8`, `::1/128`; a bare address is one host), or undefined. */
export function parseCidr(text: string): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } | undefined {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(text.trim());
  const address = m ? ipOf(m[1] as string) : undefined;
  if (!m || !address) return undefined;
  const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
  const prefix = m[2] === undefined ? (type === 'ipv4' ? 32 : 128) : Number(m[2]);
  return prefix <= (type === 'ipv4' ? 32 : 128) ? { address, prefix, type } : undefined;
}

/**
 * The `trustProxy` setting: from a peer in these ranges, the client's address and scheme are
 * read from `Forwarded` / `X-Forwarded-For` / `X-Forwarded-Proto`, walking from the right and
 * stopping at the first hop that is not itself a trusted proxy (every hop left of it could be
 * written by the client). From any other peer those headers count for nothing.
 */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #none: boolean;

  constructor(cidrs: readonly string[]) {
    for (const text of cidrs) {
      const cidr = parseCidr(text);
      if (!cidr) throw new Error(`not an IP address or CIDR: ${text.slice(0, 60)}`);
      this.#list.addSubnet(cidr.address, cidr.prefix, cidr.type);
    }
    this.#none = cidrs.length === 0;
  }

  /** Whether `address` (as a socket or a header gives it) is a trusted proxy. */
  trusts(address: string | null | undefined): boolean {
    if (this.#none || !address) return false;
    const ip = ipOf(address);
    return ip !== undefined && this.#list.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6');
  }

  clientOf(req: IncomingMessage): Client {
    const socket = req.socket as IncomingMessage['socket'] & { encrypted?: boolean };
    const peer: Client = { address: peerAddress(socket), secure: socket.encrypted === true };
    if (this.#none || !this.trusts(peer.address)) return peer;
    const forwarded = parseForwarded(headerText(req.headers.forwarded) ?? '');
    const xff = headerText(req.headers['x-forwarded-for']);
    // `Forwarded: proto=https` alone (as some proxies send it beside X-Forwarded-For) names no client.
    const fromForwarded = forwarded.some((hop) => hop.for !== '') ? this.#walk(peer, forwarded) : undefined;
    const fromXff = xff === undefined ? undefined : this.#walk(peer, splitList(xff).map((hop) => ({ for: hop })), xfpOf(req));
    // A proxy that writes one of the two headers passes the other on as the client sent it:
    // when they disagree, nothing says which is genuine, so the proxy's own address stands.
    if (fromForwarded && fromXff && fromForwarded.address !== fromXff.address) return peer;
    return fromForwarded ?? fromXff ?? peer;
  }

  /**
   * Right to left through `hops` (client first, as proxies append), while the current hop is
   * trusted, for at most MAX_HOPS: a client can pad the list with trusted-looking addresses,
   * and every step costs a lookup before the request is even authenticated.
   */
  #walk(peer: Client, hops: ReadonlyArray<{ for: string; proto?: string }>, protos: readonly string[] = []): Client {
    let client = peer;
    const last = Math.max(0, hops.length - MAX_HOPS);
    for (let i = hops.length - 1; i >= last && this.trusts(client.address); i--) {
      const hop = hops[i] as { for: string; proto?: string };
      const address = ipOf(hop.for);
      if (address === undefined) break; // `unknown`, an obfuscated name or garbage: the proxy is all we know
      // The scheme the hop's client used: its own element's proto, else the X-Forwarded-Proto entry
      // in the same position, else the one value a single proxy set.
      const proto = hop.proto || (protos.length === hops.length ? protos[i] : protos.at(-1));
      client = { address, secure: proto ? proto.toLowerCase() === 'https' : client.secure };
    }
    return client;
  }
}

/** More proxies than any real chain has; past them the walk stops at the last one reached. */
const MAX_HOPS = 16;

/** A socket's peer as an IP address (IPv4-mapped IPv6 as IPv4): cheap, as every request asks. */
export function peerAddress(socket: { remoteAddress?: string | undefined }): string | null {
  const address = socket.remoteAddress;
  if (address === undefined) return null;
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function headerText(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value.join(',') : value;
  return text === undefined || text.trim() === '' ? undefined : text;
}

function xfpOf(req: IncomingMessage): string[] {
  const text = headerText(req.headers['x-forwarded-proto']);
  return text === undefined ? [] : splitList(text);
}

function splitList(text: string): string[] {
  return text.split(',').map((s) => s.trim());
}

/** RFC 7239 elements, each `for=…;proto=…` (split naively: a quoted comma only spoils the client's own part). */
function parseForwarded(text: string): Array<{ for: string; proto?: string }> {
  return splitList(text).map((element) => {
    const hop: { for: string; proto?: string } = { for: '' };
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim().toLowerCase();
      const value = pair.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      if (eq > 0 && name === 'for') hop.for = value;
      if (eq > 0 && name === 'proto') hop.proto = value;
    }
    return hop;
  });
}

/** An address as sockets and headers write it (`[::1]:80`, `1.2.3.4:80`, `::ffff:1.2.3.4`), as a plain IP. */
function ipOf(text: string): string | undefined {
  let s = text.trim();
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracket) s = bracket[1] as string;
  else if (/^[\d.]+:\d+$/.test(s)) s = s.slice(0, s.indexOf(':'));
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  if (mapped) s = mapped[1] as string;
  return isIP(s) === 0 ? undefined : s.toLowerCase();
}

/**
 * The part of a client address a per-address limit counts: an IPv4 address whole, an IPv6
 * address by its /64 (a household or a cloud host is handed a whole /64, and could rotate
 * through it), an unknown address as `unknown`.
 */
export function addressBucket(address: string | null): string {
  if (address === null || address === '') return 'unknown';
  if (!address.includes(':') || address.includes('.')) return address; // IPv4, or IPv4-mapped IPv6
  const [head = '', tail] = address.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16)).join(':')}::/64`;
}
