import type { IncomingMessage, ServerResponse } from 'node:http';

/** RFC 8555 §8.3: the challenge is served at this path, the token being base64url. */
const PREFIX = '/.well-known/acme-challenge/';
const TOKEN = /^[A-Za-z0-9_-]+$/;
/** A pending answer outlives any order (acme-client gives up well before). */
const SHARED_TTL_MS = 3_600_000;

/** Where instances sharing a store publish their pending answers to each other. */
export interface SharedChallenges {
  putChallenge(token: string, keyAuthorization: string, expiresAt: number): Promise<void>;
  challenge(token: string, now: number): Promise<string | undefined>;
  deleteChallenge(token: string): Promise<void>;
}

/**
 * The pending HTTP-01 key authorizations, token → key authorization, and the request handler
 * that answers them. The plain-HTTP listener mounts `handle`; `obtainCertificate` adds a token
 * while its challenge is pending and removes it afterwards, also when the order fails. With
 * `shared`, answers are also published in the store: behind a load balancer the CA may reach
 * an instance other than the one ordering.
 */
export class Http01Solver {
  readonly #pending = new Map<string, string>();
  readonly #shared: SharedChallenges | undefined;

  constructor(shared?: SharedChallenges) {
    this.#shared = shared;
  }

  async add(token: string, keyAuthorization: string): Promise<void> {
    if (!TOKEN.test(token)) throw new Error('HTTP-01 token is not base64url');
    this.#pending.set(token, keyAuthorization);
    await this.#shared?.putChallenge(token, keyAuthorization, Date.now() + SHARED_TTL_MS);
  }

  async remove(token: string): Promise<void> {
    this.#pending.delete(token);
    await this.#shared?.deleteChallenge(token);
  }

  /** How many challenges are pending here (0 once every order has finished). */
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
    const method = req.method === 'GET' || req.method === 'HEAD';
    const local = TOKEN.test(token) && method ? this.#pending.get(token) : undefined;
    if (local !== undefined || this.#shared === undefined || !TOKEN.test(token) || !method) {
      answer(req, res, local);
      return true;
    }
    this.#shared.challenge(token, Date.now()).then((found) => answer(req, res, found), () => answer(req, res, undefined));
    return true;
  }
}

function answer(req: IncomingMessage, res: ServerResponse, keyAuthorization: string | undefined): void {
  const body = keyAuthorization ?? 'Not Found\n';
  res.writeHead(keyAuthorization === undefined ? 404 : 200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}
