import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Accounts } from '../admin/accounts.js';
import { adminRoutes } from '../admin/routes.js';
import type { Upstream } from '../config/upstreams.js';
import { Authenticator } from '../proxy/authenticate.js';
import type { Forwarder } from '../proxy/forward.js';
import { proxyRoutes } from '../proxy/route.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/ports.js';
import type { Vault } from '../vault/vault.js';
import { errorHandler, notFoundHandler } from './errors.js';
import './types.js';

export interface AppDeps {
  store: Store;
  vault: Vault;
  upstreams: ReadonlyMap<string, Upstream>;
  defaultUpstream: string;
  forwarder: Forwarder;
  logger: Logger;
}

/** The HTTP application: health, the data plane under /v1, the control plane under /api. */
export async function buildApp(deps: AppDeps): Promise<{ app: FastifyInstance; auth: Authenticator }> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    disableRequestLogging: true, // one line per request, written below, with ids and no secrets
    requestIdHeader: false,
    return503OnClosing: true,
    connectionTimeout: 0,
    requestTimeout: 0, // bodies and answers stream for as long as a generation takes
    keepAliveTimeout: 72_000,
  });
  app.decorateRequest('principal', null);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { ...request.principal, method: request.method, path: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    try {
      await deps.store.ping();
      return { status: 'ready' };
    } catch {
      return reply.code(503).send({ status: 'unavailable' });
    }
  });
  const auth = new Authenticator(deps);
  const accounts = new Accounts(deps);
  await app.register(async (scope) => proxyRoutes(scope, { auth, forwarder: deps.forwarder }));
  await app.register(async (scope) => adminRoutes(scope, accounts));
  return { app, auth };
}
