import { SoakpError } from '../shared/index.js';

/**
 * The upstream path for a `/v1/...` request URL, in one canonical form that is both judged
 * (endpoint family, scopes, budgets) and forwarded, so no spelling is metered as one path and
 * served as another: escaped unreserved characters are decoded (`%63` → `c`), other escapes
 * get upper-case hex, runs of `/` become one. The query string is kept byte for byte. Dot
 * segments (RFC 3986 §5.2.4), encoded slashes or backslashes, control characters and broken
 * escapes are refused, so nothing can climb out of the upstream's base path.
 */
const PLAIN = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-_.~]+)*\/?$/;
const UNRESERVED = /[A-Za-z0-9\-_.~]/;
// RFC 3986 pchar and '/': anything else (`#`, space, `"`, `<`, `{`, bytes over 0x7f…) would be
// read differently by different servers, so it is refused rather than guessed about.
const PCHARS = /^[A-Za-z0-9\-_.~!$&'()*+,;=:@%/]*$/;

export function upstreamPathOf(rawUrl: string): string {
  if (!rawUrl.startsWith('/v1/') && rawUrl !== '/v1' && !rawUrl.startsWith('/v1?')) {
    throw new SoakpError('not_found', 'Only /v1/ paths are proxied.');
  }
  // A fragment never belongs in a request target; an upstream might cut the path or query there.
  if (rawUrl.includes('#')) throw invalid('A # is not allowed in the request target; percent-encode it.');
  const rest = rawUrl.slice(3);
  const q = rest.indexOf('?');
  const path = q === -1 ? rest : rest.slice(0, q);
  // Nearly every path is plain already: unreserved characters only, no empty or dot segment.
  if (PLAIN.test(path)) return rest;
  return canonicalPath(path) + (q === -1 ? '' : rest.slice(q));
}

function canonicalPath(path: string): string {
  if (/%2f|%5c|\\/i.test(path)) throw invalid('Encoded slashes and backslashes are not allowed in the path.');
  if (!PCHARS.test(path)) throw invalid('The path holds a character that must be percent-encoded.');
  const canonical = path.replace(/\/{2,}/g, '/').replace(/%(.{0,2})/gs, (_, hex: string) => {
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw invalid('The path holds an invalid percent-encoding.');
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : `%${hex.toUpperCase()}`;
  });
  for (const segment of canonical.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw invalid('The path holds an invalid percent-encoding.');
    }
    if (decoded === '.' || decoded === '..') throw invalid('Dot segments are not allowed in the path.');
    if (/[\u0000-\u001f\u007f]/.test(decoded)) throw invalid('Control characters are not allowed in the path.');
  }
  return canonical;
}

function invalid(message: string): SoakpError {
  return new SoakpError('invalid_request', message);
}
