import { SoakpError } from '../shared/errors.js';

/**
 * The upstream path for a `/v1/...` request URL: the part after `/v1`, query string kept
 * byte for byte. Dot segments (RFC 3986 §5.2.4) and encoded slashes or backslashes are
 * refused, so nothing can climb out of the upstream's base path.
 */
const PLAIN = /^(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-_.~]*)*$/;

export function upstreamPathOf(rawUrl: string): string {
  if (!rawUrl.startsWith('/v1/') && rawUrl !== '/v1' && !rawUrl.startsWith('/v1?')) {
    throw new SoakpError('not_found', 'Only /v1/ paths are proxied.');
  }
  const rest = rawUrl.slice(3);
  const q = rest.indexOf('?');
  const path = q === -1 ? rest : rest.slice(0, q);
  // Nearly every path is plain: unreserved characters only, no segment that is `.` or `..`.
  if (PLAIN.test(path)) return rest;
  if (/%2f|%5c|\\/i.test(path)) throw new SoakpError('invalid_request', 'Encoded slashes and backslashes are not allowed in the path.');
  for (const segment of path.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw new SoakpError('invalid_request', 'The path holds an invalid percent-encoding.');
    }
    if (decoded === '.' || decoded === '..') throw new SoakpError('invalid_request', 'Dot segments are not allowed in the path.');
    if (/[\u0000-\u001f]/.test(decoded)) throw new SoakpError('invalid_request', 'Control characters are not allowed in the path.');
  }
  return rest;
}
