import type { Client } from '../shared/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request: the socket's peer, or what a trusted proxy says (`trustProxy`). */
    readonly client: Client;
  }
}
