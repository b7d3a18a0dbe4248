import type { FastifyInstance, FastifyRequest } from 'fastify';
import * as v from 'valibot';
import { type TokenRecord, tokenState } from '../domain/index.js';
import { SoakpError } from '../shared/index.js';
import type { Accounts } from './accounts.js';
import { type EphemeralRequest, type EphemeralSettings, mintEphemeral } from './ephemeral.js';
import { presentedToken } from './routes.js';

// No body at all is an empty request (Fastify gives null for it).
const body = v.nullish(
  v.strictObject({
    ttl: v.optional(v.union([v.pipe(v.string(), v.maxLength(20)), v.pipe(v.number(), v.integer())], 'ttl must be a duration such as "10m", or whole seconds')),
    origins: v.optional(v.pipe(v.array(v.pipe(v.string(), v.maxLength(300))), v.maxLength(20))),
    models: v.optional(v.pipe(v.array(v.pipe(v.string(), v.maxLength(100))), v.maxLength(50))),
  }),
);

function validate(data: unknown): { value: unknown } | { error: Error } {
  const result = v.safeParse(body, data);
  if (result.success) return { value: result.output ?? {} };
  const issue = result.issues[0];
  const path = issue.path?.map((p) => String(p.key)).join('.') || 'body';
  return { error: new Error(`Invalid request body: ${path}: ${issue.message}`) };
}

export interface EphemeralRouteDeps {
  accounts: Accounts;
  settings: EphemeralSettings;
  /** Counts one mint against the minting token's rate (`ephemeralTokens.mintsPerMinute`); rejects with a 429 past it. */
  limitMint(tokenId: string): Promise<void>;
  addressOf(request: FastifyRequest): string | null;
}

const minterOf = new WeakMap<FastifyRequest, TokenRecord>();

/**
 * `POST /api/tokens/ephemeral`: an app's server, holding a minting token, gets a short-lived
 * token for one of its web pages. Audited as `mint-token:<id>` from the server's address.
 */
export async function ephemeralRoutes(app: FastifyInstance, deps: EphemeralRouteDeps): Promise<void> {
  app.post<{ Body: EphemeralRequest }>(
    '/api/tokens/ephemeral',
    {
      schema: { body },
      validatorCompiler: () => validate,
      bodyLimit: 16 * 1024,
      // Authorised and counted from the headers alone, before the body is read.
      onRequest: async (request) => {
        const token = await presentedToken(deps.accounts, request);
        if (!token) {
          deps.accounts.deps.auditor?.securityEvent('auth_failed', 'admin-api', deps.addressOf(request), { route: '/api/tokens/ephemeral' });
          throw new SoakpError('invalid_api_key', 'This route needs a minting token (soakp token issue … --mint).');
        }
        const state = tokenState(token, Date.now());
        if (state !== 'active') throw new SoakpError(state === 'revoked' ? 'token_revoked' : 'token_expired', `This minting token has ${state === 'revoked' ? 'been revoked' : 'expired'}.`);
        if (token.kind !== 'mint') throw new SoakpError('not_minting_token', 'Only a minting token (soakp token issue … --mint) can mint short-lived tokens.');
        await deps.limitMint(token.id);
        minterOf.set(request, token);
      },
    },
    async (request, reply) => {
      const parent = minterOf.get(request) as TokenRecord;
      const as = deps.accounts.as(`mint-token:${parent.id}`, deps.addressOf(request));
      const issued = await mintEphemeral(as, parent, request.body ?? {}, deps.settings);
      // A token in the answer: no cache may keep it.
      return reply.code(201).header('cache-control', 'no-store').send({ token: issued.token.reveal(), tokenId: issued.record.id, expiresAt: new Date(issued.record.expiresAt as number).toISOString() });
    },
  );
}
