/** What the access log records about the caller: ids only, never a credential. */
export interface RequestPrincipal {
  userId: string;
  tokenId: string;
  upstream: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: RequestPrincipal | null;
  }
}
