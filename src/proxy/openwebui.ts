import type { IncomingHttpHeaders } from 'node:http';
import type { JWTPayload } from 'jose';
import type { OpenWebUIOptions } from '../domain/index.js';
import { SoakpError } from '../shared/index.js';

export type Identity = { kind: 'email'; email: string } | { kind: 'anonymous' };

/** The `openwebui` settings, in milliseconds. */
export interface JwtLifetime {
  /** Longest a token may live (exp − iat), and oldest it may be (now − iat). */
  maxTokenAge: number;
  /** How far ahead of this server's clock `iat` may be. */
  clockTolerance: number;
}

// Open WebUI signs these claims (backend/open_webui/utils/headers.py, _mint_forward_user_jwt):
// sub, email, name, role, iss "open-webui", iat, exp (300 s by default).
const ISSUER = 'open-webui';

/**
 * The user Open WebUI says it acts for. With a JWT secret the signed header is the only
 * identity that counts; the plain email header counts only where the operator allowed it.
 */
export async function openWebUIIdentity(headers: IncomingHttpHeaders, options: OpenWebUIOptions, jwtSecret: Buffer | undefined, lifetime: JwtLifetime): Promise<Identity> {
  const jwt = single(headers, 'x-openwebui-user-jwt');
  if (jwt !== undefined) {
    if (!jwtSecret) throw refused('This Open WebUI connection has no JWT secret; run `soakp openwebui connect --jwt-secret …`.');
    return { kind: 'email', email: await verifiedEmail(jwt, jwtSecret, lifetime) };
  }
  const email = single(headers, 'x-openwebui-user-email');
  if (email !== undefined) {
    if (!options.trustEmailHeader) {
      throw refused('This connection accepts only the signed X-OpenWebUI-User-Jwt; set FORWARD_USER_INFO_HEADER_JWT_SECRET in Open WebUI.');
    }
    return { kind: 'email', email };
  }
  return { kind: 'anonymous' };
}

async function verifiedEmail(jwt: string, secret: Buffer, lifetime: JwtLifetime): Promise<string> {
  // Loaded on the first signed header: a server without Open WebUI never carries jose.
  const { errors: joseErrors, jwtVerify } = await import('jose');
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(jwt, secret, { algorithms: ['HS256'], issuer: ISSUER, requiredClaims: ['exp', 'iat', 'sub'] }));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw refused('The X-OpenWebUI-User-Jwt has expired.');
    throw refused('The X-OpenWebUI-User-Jwt is not valid (signature, issuer or claims).');
  }
  checkLifetime(payload.iat as number, payload.exp as number, lifetime);
  if (typeof payload.email !== 'string' || payload.email === '') throw refused('The Open WebUI JWT carries no email claim.');
  return payload.email;
}

/**
 * jose has checked that `iat` and `exp` are numbers and `exp` is still ahead. Open WebUI mints
 * a fresh token per request, so one valid for years or issued in the future is a forgery or
 * a leak. (jose's own maxTokenAge and clockTolerance would also stretch the expiry check.)
 */
function checkLifetime(iat: number, exp: number, lifetime: JwtLifetime): void {
  const now = Date.now() / 1000;
  const max = lifetime.maxTokenAge / 1000;
  if (iat > now + lifetime.clockTolerance / 1000) {
    throw refused('The X-OpenWebUI-User-Jwt was issued in the future, beyond openwebui.clockTolerance: check the clocks of Open WebUI and soakp.');
  }
  if (exp - iat > max) {
    throw refused(`The X-OpenWebUI-User-Jwt is valid for longer than openwebui.maxTokenAge (${max} s): lower FORWARD_USER_INFO_HEADER_JWT_EXPIRES_SECONDS in Open WebUI.`);
  }
  if (now - iat > max) throw refused(`The X-OpenWebUI-User-Jwt was issued more than openwebui.maxTokenAge (${max} s) ago.`);
}

function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (Array.isArray(value)) throw refused(`The ${name} header appears more than once.`);
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function refused(message: string): SoakpError {
  return new SoakpError('invalid_api_key', message);
}
