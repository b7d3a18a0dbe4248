/**
 * Web origins as operators write them (`--cors-origins`, a token's `--origins`): an exact
 * origin, `https://app.example.com` or `http://127.0.0.1:5173`, or a pattern for every
 * subdomain, `https://*.example.com`. Patterns are kept in the form browsers send an `Origin`
 * header in (RFC 6454: lower case, no default port, no path), so matching is string work.
 */
export interface OriginPattern {
  /** The canonical text: what is stored, shown and compared. */
  readonly text: string;
  readonly scheme: 'http' | 'https';
  /** For `*.example.com`: `.example.com`; else the whole host. */
  readonly host: string;
  readonly wildcard: boolean;
  /** `:8443`, or '' for the scheme's default port. */
  readonly port: string;
}

const SHAPE = /^(https?):\/\/(\*\.)?([^/:?#@\\\s]+|\[[0-9a-f:.]+\])(:\d{1,5})?\/?$/i;

/** The pattern, or a sentence saying what is wrong with `input` and how to write it. */
export function parseOrigin(input: string): OriginPattern | string {
  const raw = input.trim();
  if (raw === '*') return '"*" would let every web site spend this server\'s keys; list the origins instead (https://app.example.com, https://*.example.com)';
  if (raw.toLowerCase() === 'null') return '"null" is the origin of sandboxed frames and local files, which any page can take on; it cannot be allowed';
  const m = SHAPE.exec(raw);
  if (!m) return `${JSON.stringify(raw.slice(0, 80))} is not an origin: write scheme://host[:port] with no path, e.g. https://app.example.com or https://*.example.com`;
  const [, scheme, star, hostText, portText] = m as unknown as [string, string, string | undefined, string, string | undefined];
  let url: URL;
  try {
    url = new URL(`${scheme}://${hostText}${portText ?? ''}`);
  } catch {
    return `${JSON.stringify(raw.slice(0, 80))} has no valid host name`;
  }
  const host = url.hostname;
  if (host.includes('*')) return `${JSON.stringify(raw.slice(0, 80))}: "*" may only stand for the first label (https://*.example.com)`;
  if (star && (host.startsWith('[') || /^[\d.]+$/.test(host))) return `${JSON.stringify(raw.slice(0, 80))}: "*." needs a domain name after it, not an address`;
  // `*.com` or `*.localhost` would take in every site under a top-level domain.
  if (star && host.split('.').length < 2) return `${JSON.stringify(raw.slice(0, 80))} is too wide: "*." must be followed by at least two labels (https://*.example.com)`;
  const lower = scheme.toLowerCase() as 'http' | 'https';
  const port = url.port === '' ? '' : `:${url.port}`;
  const text = `${lower}://${star ? '*.' : ''}${host}${port}`;
  return { text, scheme: lower, host: star ? `.${host}` : host, wildcard: Boolean(star), port };
}

/** Parses a list, throwing one error naming every bad entry (for code paths that were checked already). */
export function parseOrigins(list: readonly string[]): OriginPattern[] {
  const parsed = list.map(parseOrigin);
  const bad = parsed.filter((p): p is string => typeof p === 'string');
  if (bad.length > 0) throw new Error(bad.join('; '));
  return parsed as OriginPattern[];
}

/** Whether an `Origin` header value (as a browser sends it) is one the pattern allows. */
export function originMatches(p: OriginPattern, origin: string): boolean {
  if (!p.wildcard) return origin === p.text;
  const prefix = `${p.scheme}://`;
  if (!origin.startsWith(prefix) || !origin.endsWith(`${p.host}${p.port}`)) return false;
  const sub = origin.slice(prefix.length, origin.length - p.host.length - p.port.length);
  // One or more labels before the suffix: `a.example.com`, `a.b.example.com`, never `example.com`.
  return /^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(sub);
}

/** A matcher over a list: exact origins by one set lookup, patterns in turn. */
export function originMatcher(patterns: readonly OriginPattern[]): (origin: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.wildcard).map((p) => p.text));
  const wild = patterns.filter((p) => p.wildcard);
  return (origin) => exact.has(origin) || wild.some((p) => originMatches(p, origin));
}

/** Whether everything `narrow` allows, `wide` allows too (an ephemeral token's origins within its minting token's). */
export function originCovers(wide: readonly OriginPattern[], narrow: OriginPattern): boolean {
  if (!narrow.wildcard) return wide.some((w) => originMatches(w, narrow.text));
  return wide.some((w) => w.wildcard && w.scheme === narrow.scheme && w.port === narrow.port && (narrow.host === w.host || narrow.host.endsWith(w.host)));
}
