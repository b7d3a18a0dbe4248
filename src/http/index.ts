/** The HTTP server: the listener, the data plane's lean handler and the Fastify app around it. */
export * from './server.js';
