import type { FastifyInstance } from 'fastify';
import { type AppDeps, buildApp } from './app.js';
import { whenIdle } from './listener.js';

export interface RunningServer {
  readonly url: string;
  readonly app: FastifyInstance;
  /** Stops accepting and lets in-flight requests finish. The services stay open: their owner closes them after. */
  close(): Promise<void>;
}

/** Listens with services from the composition root (main.ts `servingServices`). */
export async function startServer(deps: AppDeps, listen: { host: string; port: number }): Promise<RunningServer> {
  const state = { closing: false };
  const app = await buildApp(deps, state);
  try {
    await app.listen({ host: listen.host, port: listen.port });
  } catch (err) {
    await app.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  let closing: Promise<void> | undefined;
  return {
    url: `${deps.tls ? 'https' : 'http'}://${host}:${port}`,
    app,
    close: () =>
      (closing ??= (async () => {
        state.closing = true;
        const closed = app.close(); // stops accepting; new requests on open sockets get 503
        // In-flight requests finish; then every socket left is idle or abandoned, and is closed.
        void whenIdle(app.server).then(() => app.server.closeAllConnections());
        await closed;
      })()),
  };
}
