/** What the access log records about the caller: ids only, never a credential. */
export interface RequestPrincipal {
  userId: string;
  tokenId: string;
  upstream: string;
}

import type { Client } from '../shared/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The socket's byte counters when this request began (keep-alive sockets carry several). */
    bytesAtStart: { read: number; written: number } | null;
    /** Who sent the request: the socket's peer, or what a trusted proxy says (`trustProxy`). */
    readonly client: Client;
  }
}
