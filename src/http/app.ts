import type { IncomingMessage, RequestListener } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest, LogController } from 'fastify';
import { type Accounts, adminRoutes, ephemeralRoutes } from '../admin/index.js';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config/index.js';
import { type PipelineDeps, bodyBytes, realtimeUpgrade } from '../proxy/index.js';
import type { Policies } from '../policy/index.js';
import { accessLog, TrustedProxies } from '../shared/index.js';
import type { Logger } from '../shared/index.js';
import type { Store } from '../store/index.js';
import { clientErrorHandler, errorHandler, notFoundHandler } from './errors.js';
import { dataPlaneHandler, isDataPlane } from './data-plane.js';
import { createHttpServer, inFlightOf } from './listener.js';
import type { TlsServing } from '../tls/index.js';
import './types.js';

/** What the HTTP application takes from the composition root (ServingServices in main.ts). */
export interface AppDeps {
  config: Pick<Config, 'limits' | 'trustProxy' | 'ephemeralTokens' | 'shutdownGrace'>;
  /** HTTPS for both planes, when set. */
  tls?: TlsServing | undefined;
  logger: Logger;
  /** Pinged by /readyz. */
  store: Pick<Store, 'ping'>;
  policies: Pick<Policies, 'unavailable' | 'limitMint'>;
  pipeline: PipelineDeps;
  /** The control plane's operations, audited as `actor`. */
  accounts(actor: string, source: string | null): Accounts;
}

/** The HTTP application: health, the data plane under /v1, the control plane under /api. */
export interface AppState {
  /** Set when shutdown begins: answers then close their connection so the process can exit. */
  closing: boolean;
}

/** Request ids: a random prefix per server and a counter — unique, and no random bytes per request. */
function requestIds(): () => string {
  const prefix = randomBytes(6).toString('base64url');
  let count = 0;
  return () => `soakp-${prefix}${(++count).toString(36)}`;
}

export async function buildApp(deps: AppDeps, state: AppState = { closing: false }): Promise<FastifyInstance> {
  let dataPlane: RequestListener | undefined; // set below, before the server listens
  const { limits } = deps.config;
  const nextId = requestIds();
  const proxies = new TrustedProxies(deps.config.trustProxy);
  const clientOf = proxies.clientOf.bind(proxies);
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // /v1 goes to the data plane's own lean handler; everything else is Fastify's.
    serverFactory: (handler) => createHttpServer((req, res) => (dataPlane && isDataPlane(req.url ?? '') ? dataPlane(req, res) : handler(req, res)), limits, { proxies, logger: deps.logger, tls: deps.tls, selfCounted: (url) => dataPlane !== undefined && isDataPlane(url) }),
    clientErrorHandler,
    genReqId: nextId,
    // One line per request, written below, with ids and no secrets, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    return503OnClosing: true,
    // Refuse what does not match a schema instead of Fastify's defaults of quietly dropping
    // unknown fields and coercing types: an API that guesses hides the caller's mistakes.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  });
  app.decorateRequest('client', { getter: function (this: { raw: IncomingMessage }) { return clientOf(this.raw); } });
  // During shutdown, after each answer: a connection that falls idle would otherwise wait out its keep-alive.
  const closeIdle = (): void => void setImmediate(() => app.server.closeIdleConnections());
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  app.addHook('onSend', async (request, reply) => {
    // The upstream's request id when it sent one (it is the id its support asks for), else ours.
    if (!reply.hasHeader('x-request-id')) reply.header('x-request-id', request.id);
    // Keep-alive would hold a finished request's socket open past shutdown; end it instead.
    if (state.closing) reply.header('connection', 'close');
  });
  // The one access log, for both planes: one line per request, ids, methods, paths and counts
  // (bytes are the bodies' sizes) — never a secret.
  const access = accessLog(deps.logger);
  app.addHook('onClose', async () => access.close());
  app.addHook('onResponse', async (request, reply) => {
    access.write({
      reqId: request.id, method: request.method, path: request.url.split('?', 1)[0] as string, status: reply.statusCode, ms: Math.round(reply.elapsedTime),
      bytesIn: bodyBytes(request.raw), bytesOut: Number(reply.getHeader('content-length') ?? 0),
    });
    if (state.closing) closeIdle();
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  // Not ready while a dependency that refuses requests is down, so a load balancer routes elsewhere.
  app.get('/readyz', async (_request, reply) => {
    const [store, others] = await Promise.all([deps.store.ping().then(() => [], () => ['store']), deps.policies.unavailable()]);
    // In ACME mode: not ready while no valid certificate is served (a placeholder, or an expired one).
    const tls = deps.tls?.source.ready?.() === false ? ['tls'] : [];
    const failing = [...store, ...others, ...tls];
    if (failing.length === 0) return { status: 'ready' };
    return reply.code(503).send({ status: 'unavailable', failing });
  });
  const { pipeline } = deps;
  app.server.on('upgrade', realtimeUpgrade(pipeline, { logger: deps.logger, access, nextId, addressOf: (req) => clientOf(req).address }));
  const accounts = deps.accounts('server', null);
  dataPlane = dataPlaneHandler({
    proxy: { ...pipeline, maxBodySize: limits.maxBodySize },
    logger: deps.logger,
    access,
    state,
    inFlight: inFlightOf(app.server),
    nextId,
    clientOf,
    answeredWhileClosing: closeIdle,
  });
  const addressOf = (request: FastifyRequest): string | null => request.client.address;
  await app.register(async (scope) => adminRoutes(scope, accounts, addressOf));
  const { ephemeralTokens } = deps.config;
  await app.register(async (scope) => ephemeralRoutes(scope, { accounts, settings: ephemeralTokens, addressOf, limitMint: (id) => deps.policies.limitMint(id, ephemeralTokens.mintsPerMinute), onMinted: (token) => pipeline.cors?.note(token) }));
  return app;
}
