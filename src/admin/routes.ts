import type { FastifyInstance } from 'fastify';
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

/** The control-plane routes: for now SOAKP's save-key flow, `POST /api/keys`. */
export async function adminRoutes(app: FastifyInstance, accounts: Accounts): Promise<void> {
  app.post<{ Body: { key: string; upstream?: string; email?: string } }>(
    '/api/keys',
    {
      schema: { body: saveKeyBody },
      bodyLimit: 64 * 1024,
      // Authorise from the headers alone, before the body is read or validated.
      onRequest: async (request) => requireAdmin(accounts, request.headers),
    },
    async (request, reply) => {
      const { email, issued } = await saveKey(accounts, request.body);
      return reply.code(201).send({ token: issued.token.reveal(), tokenId: issued.record.id, email });
    },
  );
}

async function requireAdmin(accounts: Accounts, headers: Parameters<typeof credentialOf>[0]): Promise<void> {
  const credential = credentialOf(headers);
  const denied = new SoakpError('invalid_api_key', 'This route needs an admin token (`soakp admin token`).');
  if (!isWellFormedToken(credential)) throw denied;
  const { store, vault } = accounts.deps;
  const hash = vault.hashToken(credential);
  const token = await store.tokens.byHash(hash);
  if (!token || !sameHash(token.hash, hash) || token.kind !== 'admin' || tokenState(token, Date.now()) !== 'active') throw denied;
}
