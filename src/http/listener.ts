import { type RequestListener, type Server, type ServerOptions, createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Config } from '../config/index.js';
import type { Logger, TrustedProxies } from '../shared/index.js';
import type { TlsServing } from '../tls/index.js';
import { capConnections } from './connections.js';

/**
 * The Node listener, with the protections against slow and idle clients (slowloris and
 * friends): headers must arrive within `headersTimeout` (counted from the connection's opening,
 * or from a later request's first byte), the whole request within `requestTimeout` (RFC 9110
 * §15.5.9, 408); a connection idle between requests closes after `keepAliveTimeout`, and open
 * connections are capped (connections.ts). Answers are not timed: a generation streams as long as it takes.
 */
export function createHttpServer(
  handler: RequestListener,
  limits: Config['limits'],
  edge: { proxies: TrustedProxies; logger?: Logger; selfCounted?: (url: string) => boolean; tls?: TlsServing | undefined },
): Server {
  const options: ServerOptions = {
    headersTimeout: limits.headersTimeout,
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    // Check pending requests against those timeouts every second instead of every 30 s.
    connectionsCheckingInterval: 1_000,
  };
  const server = edge.tls ? httpsServer(options, handler, edge.tls, edge.logger) : createServer(options, handler);
  server.timeout = 0;
  capConnections(server, limits, edge.proxies, edge.logger);
  trackInFlight(server, edge.selfCounted ?? (() => false));
  return server;
}

/**
 * HTTPS on the same port, both planes. A new certificate from the source replaces the secure
 * context for new handshakes only: open connections and streams keep theirs.
 */
function httpsServer(options: ServerOptions, handler: RequestListener, tls: TlsServing, logger: Logger | undefined): Server {
  const context = (pair: { cert: string; key: string }) => ({ cert: pair.cert, key: pair.key, minVersion: tls.minVersion });
  const { hsts } = tls;
  // RFC 6797 §7.2: HSTS only over secure transport, which every answer here is.
  const serve: RequestListener = hsts === undefined ? handler : (req, res) => {
    res.setHeader('strict-transport-security', hsts);
    handler(req, res);
  };
  const server = createHttpsServer({ ...options, ...context(tls.source.current()) }, serve);
  const stop = tls.source.onChange((pair) => {
    try {
      server.setSecureContext(context(pair));
    } catch (err) {
      // The source checked the pair; this is OpenSSL refusing it (e.g. a key too weak). The old context stays.
      logger?.error({ reason: (err as Error).message.split('\n')[0], serial: pair.serial }, 'The new TLS certificate could not be used; the previous one stays');
    }
  });
  server.once('close', stop);
  // An https.Server is an http.Server with TLS underneath: the same requests, timeouts and
  // connection tracking; only its type declaration does not say so.
  return server as unknown as Server;
}

/** Counts requests in flight: `enter` as one starts, `leave` once its response has closed. */
export interface InFlight {
  enter(): void;
  leave(): void;
}

const inFlight = new WeakMap<Server, InFlight & { count: number; idle: Array<() => void> }>();

// Node's close() waits for every socket, and closes only those idle at that moment; a socket
// whose answer was abandoned half-way can linger in neither state. Counting answers lets
// shutdown wait exactly for the requests in flight and then close whatever is left.
// The data plane counts its own requests (`selfCounted`), from the listener it has anyway.
function trackInFlight(server: Server, selfCounted: (url: string) => boolean): void {
  const state = {
    count: 0,
    idle: [] as Array<() => void>,
    enter: () => void (state.count += 1),
    leave: () => {
      state.count -= 1;
      if (state.count === 0) for (const resolve of state.idle.splice(0)) resolve();
    },
  };
  inFlight.set(server, state);
  server.on('request', (req, res) => {
    if (selfCounted(req.url ?? '')) return;
    state.enter();
    res.once('close', state.leave);
  });
}

/** The in-flight counter of a server made by createHttpServer. */
export function inFlightOf(server: Server): InFlight | undefined {
  return inFlight.get(server);
}

/** Resolves once no request is in flight on `server` (at once if none is). */
export function whenIdle(server: Server): Promise<void> {
  const state = inFlight.get(server);
  if (!state || state.count === 0) return Promise.resolve();
  return new Promise((resolve) => state.idle.push(resolve));
}
