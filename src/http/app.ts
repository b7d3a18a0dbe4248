import type { IncomingMessage, RequestListener } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { Accounts, adminRoutes } from '../admin/index.js';
import { randomBytes } from 'node:crypto';
import type { Config, Upstream } from '../config/index.js';
import { Authenticator, realtimeUpgrade } from '../proxy/index.js';
import type { Forwarder, Inspection } from '../proxy/index.js';
import type { Policies } from '../policy/index.js';
import { accessLog, TrustedProxies } from '../shared/index.js';
import type { Logger } from '../shared/index.js';
import type { Store } from '../store/index.js';
import type { Vault } from '../vault/index.js';
import { clientErrorHandler, errorHandler, notFoundHandler } from './errors.js';
import { dataPlaneHandler, isDataPlane } from './data-plane.js';
import { bytesOf, bytesSince, createHttpServer, inFlightOf } from './listener.js';
import './types.js';

export interface AppDeps {
  store: Store;
  vault: Vault;
  upstreams: ReadonlyMap<string, Upstream>;
  defaultUpstream: string;
  forwarder: Forwarder;
  logger: Logger;
  limits: Config['limits'];
  connectTimeout: number;
  policies: Policies;
  inspection: Inspection;
  openwebui: Config['openwebui'];
  /** The `trustProxy` setting: peers whose forwarding headers name the client. */
  trustProxy: readonly string[];
}

/** The HTTP application: health, the data plane under /v1, the control plane under /api. */
export interface AppState {
  /** Set when shutdown begins: answers then close their connection so the process can exit. */
  closing: boolean;
}

const ID_PREFIX = randomBytes(6).toString('base64url');
let requestCount = 0;
// A random prefix per process and a counter: unique, and no random bytes per request.
const nextId = (): string => `soakp-${ID_PREFIX}${(++requestCount).toString(36)}`;

export async function buildApp(deps: AppDeps, state: AppState = { closing: false }): Promise<{ app: FastifyInstance; auth: Authenticator }> {
  let dataPlane: RequestListener | undefined; // set below, before the server listens
  const proxies = new TrustedProxies(deps.trustProxy);
  const clientOf = proxies.clientOf.bind(proxies);
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // /v1 goes to the data plane's own lean handler; everything else is Fastify's.
    serverFactory: (handler) => createHttpServer((req, res) => (dataPlane && isDataPlane(req.url ?? '') ? dataPlane(req, res) : handler(req, res)), deps.limits, { proxies, logger: deps.logger, selfCounted: (url) => dataPlane !== undefined && isDataPlane(url) }),
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
  app.decorateRequest('bytesAtStart', null);
  app.decorateRequest('client', { getter: function (this: { raw: IncomingMessage }) { return clientOf(this.raw); } });
  // During shutdown, after each answer: a connection that falls idle would otherwise wait out its keep-alive.
  const closeIdle = (): void => void setImmediate(() => app.server.closeIdleConnections());
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  app.addHook('onRequest', async (request) => {
    request.bytesAtStart = bytesOf(request);
  });
  app.addHook('onSend', async (request, reply) => {
    // The upstream's request id when it sent one (it is the id its support asks for), else ours.
    if (!reply.hasHeader('x-request-id')) reply.header('x-request-id', request.id);
    // Keep-alive would hold a finished request's socket open past shutdown; end it instead.
    if (state.closing) reply.header('connection', 'close');
  });
  // The access line carries only ids, methods, paths and counts — never a secret — so it skips
  // the redaction pass that every other log line gets.
  const access = deps.logger.child({}, { redact: { paths: [], censor: '[redacted]' } });
  app.addHook('onResponse', async (request, reply) => {
    access.info(
      {
        reqId: request.id,
        method: request.method,
        path: request.url.split('?', 1)[0],
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        ...bytesSince(request),
        upstreamRequestId: reply.getHeader('x-request-id') === request.id ? undefined : reply.getHeader('x-request-id'),
      },
      'request',
    );
    if (state.closing) closeIdle();
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  // Not ready while a dependency that refuses requests is down, so a load balancer routes elsewhere.
  app.get('/readyz', async (_request, reply) => {
    const [store, others] = await Promise.all([deps.store.ping().then(() => [], () => ['store']), deps.policies.unavailable()]);
    const failing = [...store, ...others];
    if (failing.length === 0) return { status: 'ready' };
    return reply.code(503).send({ status: 'unavailable', failing });
  });
  const auth = new Authenticator(deps);
  const dataPlaneAccess = accessLog(access);
  app.addHook('onClose', async () => dataPlaneAccess.close());
  const pipeline = { auth, forwarder: deps.forwarder, policies: deps.policies.engine, inspection: deps.inspection, connectTimeout: deps.connectTimeout };
  app.server.on('upgrade', realtimeUpgrade(pipeline, { logger: deps.logger, access: dataPlaneAccess, nextId, addressOf: (req) => clientOf(req).address }));
  const accounts = new Accounts({ ...deps, auditor: deps.policies.auditor, actor: 'server', source: null });
  dataPlane = dataPlaneHandler({
    proxy: { ...pipeline, maxBodySize: deps.limits.maxBodySize },
    logger: deps.logger,
    access: dataPlaneAccess,
    state,
    inFlight: inFlightOf(app.server),
    nextId,
    clientOf,
    answeredWhileClosing: closeIdle,
  });
  await app.register(async (scope) => adminRoutes(scope, accounts, (request) => request.client.address));
  return { app, auth };
}
