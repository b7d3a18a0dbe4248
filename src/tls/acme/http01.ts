import type { IncomingMessage, ServerResponse } from 'node:http';

/** RFC 8555 §8.3: the challenge is served at this path, the token being base64url. */
const PREFIX = '/.well-known/acme-challenge/';
const TOKEN = /^[A-Za-z0-9_-]+$/;

/**
 * The pending HTTP-01 key authorizations, token → key authorization, and the request handler
 * that answers them. The plain-HTTP listener mounts `handle`; `obtainCertificate` adds a token
 * while its challenge is pending and removes it afterwards, also when the order fails.
 */
export class Http01Solver {
  readonly #pending = new Map<string, string>();

  add(token: string, keyAuthorization: string): void {
    if (!TOKEN.test(token)) throw new Error('HTTP-01 token is not base64url');
    this.#pending.set(token, keyAuthorization);
  }

  remove(token: string): void {
    this.#pending.delete(token);
  }

  /** How many challenges are pending (0 once every order has finished). */
  get size(): number {
    return this.#pending.size;
  }

  /** True when `url` (a request target) is an ACME challenge path: then `handle` answers it. */
  static matches(url: string | undefined): boolean {
    return url?.startsWith(PREFIX) === true;
  }

  /**
   * Answers a challenge request: 200 with the key authorization, or 404. Returns false, writing
   * nothing, for a path that is not a challenge, so the caller can serve it otherwise.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '';
    if (!url.startsWith(PREFIX)) return false;
    const token = url.slice(PREFIX.length);
    const keyAuthorization = TOKEN.test(token) ? this.#pending.get(token) : undefined;
    const found = keyAuthorization !== undefined && (req.method === 'GET' || req.method === 'HEAD');
    const body = found ? keyAuthorization : 'Not Found\n';
    res.writeHead(found ? 200 : 404, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  }
}
