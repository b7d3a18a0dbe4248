import { SoakpError } from '../shared/index.js';
import { type OpenWebUIOptions, openWebUISecretId } from '../domain/index.js';
import type { Accounts } from './accounts.js';
import { type IssuedToken, issueToken } from './tokens.js';

export interface ConnectInput {
  name?: string | undefined;
  jwtSecret?: string | undefined;
  trustEmailHeader?: boolean | undefined;
  modelsUser?: string | undefined;
  upstream?: string | undefined;
}

/**
 * Creates an Open WebUI connection key. With a JWT secret (Open WebUI's
 * FORWARD_USER_INFO_HEADER_JWT_SECRET, sealed like any stored secret) the signed
 * X-OpenWebUI-User-Jwt decides who is calling; `trustEmailHeader` additionally accepts the
 * plain X-OpenWebUI-User-Email — from holders of this key only.
 */
export async function connectOpenWebUI(accounts: Accounts, input: ConnectInput): Promise<IssuedToken> {
  const secret = input.jwtSecret?.trim();
  if (!secret && !input.trustEmailHeader) {
    throw new SoakpError('invalid_request', 'Give --jwt-secret (recommended: Open WebUI\'s FORWARD_USER_INFO_HEADER_JWT_SECRET) or --trust-email-header.');
  }
  if (secret !== undefined && secret.length < 32) {
    throw new SoakpError('invalid_request', 'The JWT secret must be at least 32 characters (HS256 needs a 256-bit key).');
  }
  const options: OpenWebUIOptions = { trustEmailHeader: Boolean(input.trustEmailHeader), jwt: Boolean(secret), upstream: accounts.upstreamName(input.upstream) };
  if (input.modelsUser !== undefined) options.modelsUser = (await accounts.user(input.modelsUser)).email;
  const { store, vault } = accounts.deps;
  const issued = await store.transaction(async (tx) => {
    const issued = await issueToken(tx, vault, { kind: 'openwebui', userId: null, name: input.name ?? 'open-webui', options: { ...options } });
    if (secret) {
      const id = openWebUISecretId(issued.record.id);
      await tx.secrets.insert(id, vault.sealInternal(id, Buffer.from(secret, 'utf8')));
    }
    return issued;
  });
  // The options say how callers are trusted; of the JWT secret only whether there is one (options.jwt).
  await accounts.audit('openwebui.connect', issued.record.id, { name: issued.record.name, ...options });
  return issued;
}
