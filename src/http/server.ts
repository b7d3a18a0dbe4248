import type { FastifyInstance } from 'fastify';
import type { Config, Upstream } from '../config/index.js';
import { createPolicies } from '../policy/index.js';
import { Forwarder, inspectionOf } from '../proxy/index.js';
import type { Logger } from '../shared/index.js';
import type { Store } from '../store/index.js';
import type { Vault } from '../vault/index.js';
import { buildApp } from './app.js';
import { whenIdle } from './listener.js';

export interface ServerDeps {
  store: Store;
  vault: Vault;
  upstreams: ReadonlyMap<string, Upstream>;
  defaultUpstream: string;
  logger: Logger;
  limits: Config['limits'];
  timeouts: Config['timeouts'];
  rateLimits: Config['rateLimits'];
  budgets: Config['budgets'];
  prices: Config['prices'];
  openwebui: Config['openwebui'];
  trustProxy: Config['trustProxy'];
}

export interface RunningServer {
  readonly url: string;
  readonly app: FastifyInstance;
  /** Stops accepting, lets in-flight requests finish, then releases the upstream pool. */
  close(): Promise<void>;
}

export async function startServer(deps: ServerDeps, listen: { host: string; port: number }): Promise<RunningServer> {
  const forwarder = new Forwarder(deps.timeouts);
  const policies = createPolicies(deps.store, deps, deps.logger, deps.vault.nextAuditHeadMac);
  const state = { closing: false };
  const { app, auth } = await buildApp({ ...deps, forwarder, policies, connectTimeout: deps.timeouts.connect, inspection: inspectionOf(deps) }, state);
  try {
    await app.listen({ host: listen.host, port: listen.port });
  } catch (err) {
    await app.close();
    await forwarder.close();
    await policies.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : listen.port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    app,
    close: () =>
      (closing ??= (async () => {
        state.closing = true;
        const closed = app.close(); // stops accepting; new requests on open sockets get 503
        // In-flight requests finish; then every socket left is idle or abandoned, and is closed.
        void whenIdle(app.server).then(() => app.server.closeAllConnections());
        await closed;
        auth.close();
        await forwarder.close();
        // After the last answer: the usage ledger and audit log are flushed, nothing is lost.
        await policies.close();
      })()),
  };
}
