import type { IncomingHttpHeaders } from 'node:http';
import type { OpenWebUIOptions } from '../domain/openwebui.js';
import { SoakpError } from '../shared/errors.js';

export type Identity = { kind: 'email'; email: string } | { kind: 'anonymous' };

// Open WebUI signs these claims (backend/open_webui/utils/headers.py, _mint_forward_user_jwt):
// sub, email, name, role, iss "open-webui", iat, exp (300 s by default).
const ISSUER = 'open-webui';

/**
 * The user Open WebUI says it acts for. With a JWT secret the signed header is the only
 * identity that counts; the plain email header counts only where the operator allowed it.
 */
export async function openWebUIIdentity(headers: IncomingHttpHeaders, options: OpenWebUIOptions, jwtSecret: Buffer | undefined): Promise<Identity> {
  const jwt = single(headers, 'x-openwebui-user-jwt');
  if (jwt !== undefined) {
    if (!jwtSecret) throw refused('This Open WebUI connection has no JWT secret; run `soakp openwebui connect --jwt-secret …`.');
    return { kind: 'email', email: await verifiedEmail(jwt, jwtSecret) };
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

async function verifiedEmail(jwt: string, secret: Buffer): Promise<string> {
  // Loaded on the first signed header: a server without Open WebUI never carries jose.
  const { errors: joseErrors, jwtVerify } = await import('jose');
  try {
    const { payload } = await jwtVerify(jwt, secret, { algorithms: ['HS256'], issuer: ISSUER, requiredClaims: ['exp', 'iat', 'sub'] });
    if (typeof payload.email !== 'string' || payload.email === '') throw refused('The Open WebUI JWT carries no email claim.');
    return payload.email;
  } catch (err) {
    if (err instanceof SoakpError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw refused('The X-OpenWebUI-User-Jwt has expired.');
    throw refused('The X-OpenWebUI-User-Jwt is not valid (signature, issuer or claims).');
  }
}

function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (Array.isArray(value)) throw refused(`The ${name} header appears more than once.`);
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function refused(message: string): SoakpError {
  return new SoakpError('invalid_api_key', message);
}
