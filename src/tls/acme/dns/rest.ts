import { AcmeError } from '../errors.js';

/** A DNS API call that gives up rather than hold an order open forever. */
const TIMEOUT_MS = 30_000;

/**
 * One JSON call to a provider's REST API with a bearer token. A non-2xx answer fails with the
 * provider's name, the method, the path (never the token) and the start of the answer's body.
 */
export async function callJson(provider: string, token: string, method: string, url: URL, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    throw new AcmeError('acme_dns_provider_failed', `${provider}: ${method} ${url.pathname} failed: ${(err as Error).message}`, { cause: err });
  }
  const text = await res.text();
  if (!res.ok) {
    throw new AcmeError('acme_dns_provider_failed', `${provider}: ${method} ${url.pathname} answered ${res.status}: ${text.slice(0, 300)}`);
  }
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new AcmeError('acme_dns_provider_failed', `${provider}: ${method} ${url.pathname} answered with no JSON`, { cause: err });
  }
}

/** `a.b.example.com.` → [`a.b.example.com`, `b.example.com`, `example.com`]: the zones it may sit in. */
export function candidateZones(fqdn: string): string[] {
  const labels = fqdn.replace(/\.$/, '').split('.');
  const zones: string[] = [];
  for (let i = 0; i < labels.length - 1; i++) zones.push(labels.slice(i).join('.'));
  return zones;
}

/** `base` + `path`, keeping any path the base has (`https://api.cloudflare.com/client/v4`). */
export function endpoint(base: string, path: string, query: Record<string, string> = {}): URL {
  const url = new URL(base.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  return url;
}
