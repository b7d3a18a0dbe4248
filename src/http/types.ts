/** What the access log records about the caller: ids only, never a credential. */
export interface RequestPrincipal {
  userId: string;
  tokenId: string;
  upstream: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The socket's byte counters when this request began (keep-alive sockets carry several). */
    bytesAtStart: { read: number; written: number } | null;
  }
}
