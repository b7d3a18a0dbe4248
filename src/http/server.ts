import type { FastifyInstance } from 'fastify';
import { type AppDeps, buildApp } from './app.js';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { TrustedProxies } from '../shared/index.js';
import { whenIdle } from './listener.js';
import { createPlainHttpServer } from './plain-http.js';

export interface RunningServer {
  readonly url: string;
  /** The plain-HTTP listener (HTTP-01 answers, redirects), when `httpPort` is set with TLS on. */
  readonly httpUrl?: string;
  readonly app: FastifyInstance;
  /** Stops accepting and lets in-flight requests finish. The services stay open: their owner closes them after. */
  close(): Promise<void>;
}

/** Listens with services from the composition root (main.ts `servingServices`). */
export async function startServer(deps: AppDeps, listen: { host: string; port: number; httpPort?: number | undefined }): Promise<RunningServer> {
  const state = { closing: false };
  const app = await buildApp(deps, state);
  let plain: Server | undefined;
  try {
    await app.listen({ host: listen.host, port: listen.port });
    if (deps.tls !== undefined && listen.httpPort !== undefined) {
      plain = createPlainHttpServer(deps.tls, portOf(app.server, listen.port), deps.config.limits, { proxies: new TrustedProxies(deps.config.trustProxy), logger: deps.logger });
      await listenOn(plain, listen.host, listen.httpPort);
      // After listening, an accept error (EMFILE) must not be an uncaught 'error' event.
      plain.on('error', (err) => deps.logger.error({ reason: err.message }, 'The plain-HTTP listener failed'));
    }
  } catch (err) {
    await app.close();
    plain?.close();
    throw err;
  }
  // Upgraded (WebSocket) sockets leave the HTTP server's bookkeeping, but still hold close():
  // kept here, so that the shutdown grace ends them too.
  const upgraded = new Set<Duplex>();
  app.server.on('upgrade', (_req: unknown, socket: Duplex) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
  });
  // Listeners up: an ACME order may now be answered (HTTP-01) and served.
  deps.tls?.source.start?.();
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  let closing: Promise<void> | undefined;
  return {
    url: `${deps.tls ? 'https' : 'http'}://${host}:${portOf(app.server, listen.port)}`,
    ...(plain === undefined ? {} : { httpUrl: `http://${host}:${portOf(plain, listen.httpPort ?? 0)}` }),
    app,
    close: () =>
      (closing ??= (async () => {
        state.closing = true;
        plain?.close();
        plain?.closeAllConnections();
        const closed = app.close(); // stops accepting; new requests on open sockets get 503
        // In-flight requests finish; then every socket left is idle or abandoned, and is closed.
        void whenIdle(app.server).then(() => app.server.closeAllConnections());
        // A stream may last for minutes: past the grace it is cut (its usage is still recorded),
        // so that a container's stop timeout never ends in SIGKILL and a lost ledger batch.
        let cut = false;
        const grace = setTimeout(() => {
          cut = true;
          deps.logger.warn({ shutdownGrace: deps.config.shutdownGrace }, 'shutdown grace over: closing the requests still in flight');
          app.server.closeAllConnections();
          for (const socket of upgraded) socket.destroy();
        }, deps.config.shutdownGrace);
        await closed.finally(() => clearTimeout(grace));
        // The server closes with its last socket, before the cut requests' own 'close' handlers
        // have run: wait for them, or their accounting would come after the ledger's last flush.
        // Bounded: a pipelined request never answered is counted but never leaves.
        if (cut) await idleWithin(app.server, 1_000);
      })()),
  };
}

/** Resolves once `server` has no request in flight, or after `ms`, whichever comes first. */
async function idleWithin(server: Server, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([whenIdle(server), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function portOf(server: Server, fallback: number): number {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : fallback;
}

function listenOn(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
