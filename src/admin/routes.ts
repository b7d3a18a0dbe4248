import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isWellFormedToken, sameHash } from '../crypto/tokens.js';
import { tokenState } from '../domain/types.js';
import { credentialOf } from '../shared/credentials.js';
import { SoakpError } from '../shared/errors.js';
import type { Accounts } from './accounts.js';
import { saveKey } from './save-key.js';

const saveKeyBody = {
  type: 'object',
  required: ['key'],
  additionalProperties: false,
  properties: {
    key: { type: 'string', minLength: 1, maxLength: 1024 },
    upstream: { type: 'string', minLength: 1, maxLength: 40 },
    email: { type: 'string', minLength: 3, maxLength: 254 },
  },
} as const;

// Which admin token authorised a request: found in onRequest, named in the audit log by the handler.
const adminOf = new WeakMap<FastifyRequest, string>();

/**
 * The control-plane routes: for now SOAKP's save-key flow, `POST /api/keys`. Changes are
 * audited (when `accounts` has an auditor) as `admin-token:<id>` from the client's address.
 */
export async function adminRoutes(app: FastifyInstance, accounts: Accounts): Promise<void> {
  app.post<{ Body: { key: string; upstream?: string; email?: string } }>(
    '/api/keys',
    {
      schema: { body: saveKeyBody },
      bodyLimit: 64 * 1024,
      // Authorise from the headers alone, before the body is read or validated.
      onRequest: async (request) => {
        adminOf.set(request, await requireAdmin(accounts, request));
      },
    },
    async (request, reply) => {
      const as = accounts.as(`admin-token:${adminOf.get(request) ?? 'unknown'}`, request.ip);
      const { email, issued } = await saveKey(as, request.body);
      return reply.code(201).send({ token: issued.token.reveal(), tokenId: issued.record.id, email });
    },
  );
}

/** The id of the active admin token presented, or a refusal. */
async function requireAdmin(accounts: Accounts, request: FastifyRequest): Promise<string> {
  const credential = credentialOf(request.headers);
  const { store, vault, auditor } = accounts.deps;
  const hash = isWellFormedToken(credential) ? vault.hashToken(credential) : undefined;
  const token = hash && (await store.tokens.byHash(hash));
  if (hash && token && sameHash(token.hash, hash) && token.kind === 'admin' && tokenState(token, Date.now()) === 'active') return token.id;
  // Counted per address and written once a minute: a guessing flood costs a few rows, never the credential.
  auditor?.securityEvent('auth_failed', 'admin-api', request.ip, { route: '/api/keys' });
  throw new SoakpError('invalid_api_key', 'This route needs an admin token (`soakp admin token`).');
}
