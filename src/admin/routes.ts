import type { FastifyInstance, FastifyRequest } from 'fastify';
import * as v from 'valibot';
import { isWellFormedToken, sameHash } from '../crypto/index.js';
import { type TokenRecord, tokenState } from '../domain/index.js';
import { credentialOf, SoakpError } from '../shared/index.js';
import type { Accounts } from './accounts.js';
import { saveKey } from './save-key.js';

const saveKeyBody = v.strictObject({
  key: v.pipe(v.string(), v.minLength(1), v.maxLength(1024)),
  upstream: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(40))),
  email: v.optional(v.pipe(v.string(), v.minLength(3), v.maxLength(254))),
});

/**
 * The body is checked with valibot (as the configuration is) rather than Fastify's default,
 * which would build an ajv instance for this one route: ~2 MB of every server's memory.
 * Unknown fields are refused and nothing is coerced.
 */
function validateSaveKey(data: unknown): { value: unknown } | { error: Error } {
  const result = v.safeParse(saveKeyBody, data);
  if (result.success) return { value: result.output };
  const issue = result.issues[0];
  const path = issue.path?.map((p) => String(p.key)).join('.') || 'body';
  return { error: new Error(`Invalid request body: ${path}: ${issue.message}`) };
}

// Which admin token authorised a request: found in onRequest, named in the audit log by the handler.
const adminOf = new WeakMap<FastifyRequest, string>();

/**
 * The control-plane routes: for now SOAKP's save-key flow, `POST /api/keys`. Changes are
 * audited (when `accounts` has an auditor) as `admin-token:<id>` from the client's address.
 */
export async function adminRoutes(app: FastifyInstance, accounts: Accounts, addressOf: (request: FastifyRequest) => string | null = (request) => request.ip): Promise<void> {
  app.post<{ Body: { key: string; upstream?: string; email?: string } }>(
    '/api/keys',
    {
      schema: { body: saveKeyBody },
      validatorCompiler: () => validateSaveKey,
      bodyLimit: 64 * 1024,
      // Authorise from the headers alone, before the body is read or validated.
      onRequest: async (request) => {
        adminOf.set(request, await requireAdmin(accounts, request, addressOf(request)));
      },
    },
    async (request, reply) => {
      const as = accounts.as(`admin-token:${adminOf.get(request) ?? 'unknown'}`, addressOf(request));
      const { email, issued } = await saveKey(as, request.body);
      return reply.code(201).send({ token: issued.token.reveal(), tokenId: issued.record.id, email });
    },
  );
}

/** The id of the active admin token presented, or a refusal. */
async function requireAdmin(accounts: Accounts, request: FastifyRequest, address: string | null): Promise<string> {
  const token = await presentedToken(accounts, request);
  if (token && token.kind === 'admin' && tokenState(token, Date.now()) === 'active') return token.id;
  // Counted per address and written once a minute: a guessing flood costs a few rows, never the credential.
  accounts.deps.auditor?.securityEvent('auth_failed', 'admin-api', address, { route: '/api/keys' });
  throw new SoakpError('invalid_api_key', 'This route needs an admin token (`soakp admin token`).');
}

/** The stored token a control-plane request presents (any kind, any state), or undefined. */
export async function presentedToken(accounts: Accounts, request: FastifyRequest): Promise<TokenRecord | undefined> {
  const credential = credentialOf(request.headers, request.raw.rawHeaders);
  const { store, vault } = accounts.deps;
  // The checksum filters junk before any hashing or lookup.
  if (!isWellFormedToken(credential)) return undefined;
  const hash = vault.hashToken(credential);
  const token = await store.tokens.byHash(hash);
  return token && sameHash(token.hash, hash) ? token : undefined;
}
