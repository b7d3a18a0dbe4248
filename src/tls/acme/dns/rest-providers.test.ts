import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { cloudflareProvider } from './cloudflare.js';
import { createDnsProvider } from './create.js';
import { digitalOceanProvider } from './digitalocean.js';

interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly auth: string | undefined;
  readonly body: unknown;
}

type Route = (req: Recorded) => { status?: number; body?: unknown };

/** A fake provider API on 127.0.0.1 that records every request and answers through `route`. */
async function fakeApi(route: Route): Promise<{ base: string; requests: Recorded[]; server: Server }> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const recorded: Recorded = {
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        auth: req.headers.authorization,
        body: raw === '' ? undefined : JSON.parse(raw),
      };
      requests.push(recorded);
      const { status = 200, body } = route(recorded);
      res.writeHead(status, { 'content-type': 'application/json' }).end(body === undefined ? '' : JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

const FQDN = '_acme-challenge.a.example.com.';

describe('cloudflare DNS provider', () => {
  const route: Route = (req) => {
    if (req.method === 'GET' && req.path === '/client/v4/zones') {
      return { body: { success: true, result: req.query.name === 'example.com' ? [{ id: 'zone1', name: 'example.com' }] : [] } };
    }
    if (req.method === 'POST' && req.path === '/client/v4/zones/zone1/dns_records') return { body: { success: true, result: { id: 'rec1' } } };
    if (req.method === 'GET' && req.path === '/client/v4/zones/zone1/dns_records') return { body: { success: true, result: [{ id: 'rec1' }] } };
    if (req.method === 'DELETE' && req.path === '/client/v4/zones/zone1/dns_records/rec1') return { body: { success: true, result: { id: 'rec1' } } };
    return { status: 404, body: { success: false, errors: [{ code: 7003, message: 'no route' }] } };
  };

  it('finds the zone, creates the TXT record and deletes it by its value, with the bearer token', async () => {
    const api = await fakeApi(route);
    const dns = createDnsProvider({ provider: 'cloudflare', env: { CF_DNS_API_TOKEN: 'cf-secret' }, baseUrl: `${api.base}/client/v4` });
    await dns.present(FQDN, 'v4lue');
    await dns.cleanup(FQDN, 'v4lue');
    expect(api.requests.every((req) => req.auth === 'Bearer cf-secret')).toBe(true);
    const calls = api.requests.map((req) => `${req.method} ${req.path}${req.query.name === undefined ? '' : ` ${req.query.name}`}`);
    expect(calls).toEqual([
      'GET /client/v4/zones _acme-challenge.a.example.com',
      'GET /client/v4/zones a.example.com',
      'GET /client/v4/zones example.com',
      'POST /client/v4/zones/zone1/dns_records',
      'GET /client/v4/zones _acme-challenge.a.example.com',
      'GET /client/v4/zones a.example.com',
      'GET /client/v4/zones example.com',
      'GET /client/v4/zones/zone1/dns_records _acme-challenge.a.example.com',
      'DELETE /client/v4/zones/zone1/dns_records/rec1',
    ]);
    expect(api.requests[3]!.body).toEqual({ type: 'TXT', name: '_acme-challenge.a.example.com', content: 'v4lue', ttl: 120 });
    expect(api.requests[7]!.query).toMatchObject({ type: 'TXT', content: 'v4lue' });
  });

  it('a refused call fails with the status and the answer, never the token', async () => {
    const api = await fakeApi(() => ({ status: 403, body: { success: false, errors: [{ code: 10000, message: 'Authentication error' }] } }));
    const dns = cloudflareProvider({ token: 'cf-secret', baseUrl: api.base });
    const failed = dns.present(FQDN, 'v');
    await expect(failed).rejects.toMatchObject({ name: 'AcmeError', code: 'acme_dns_provider_failed', message: expect.stringContaining('answered 403') });
    await expect(failed).rejects.toSatisfy((err: Error) => !err.message.includes('cf-secret'));
  });

  it('no zone for the name is a clear failure', async () => {
    const api = await fakeApi(() => ({ body: { success: true, result: [] } }));
    await expect(cloudflareProvider({ token: 't', baseUrl: api.base }).present(FQDN, 'v')).rejects.toThrow(/cloudflare: no zone found for _acme-challenge\.a\.example\.com\./);
  });
});

describe('digitalocean DNS provider', () => {
  it('finds the domain, creates the TXT record under its relative name and deletes only its value', async () => {
    const api = await fakeApi((req) => {
      if (req.method === 'GET' && req.path === '/v2/domains') return { body: { domains: [{ name: 'other.org' }, { name: 'example.com' }] } };
      if (req.method === 'POST' && req.path === '/v2/domains/example.com/records') return { status: 201, body: { domain_record: { id: 7 } } };
      if (req.method === 'GET' && req.path === '/v2/domains/example.com/records') {
        return { body: { domain_records: [{ id: 7, data: 'v4lue' }, { id: 8, data: 'the other name of a wildcard' }] } };
      }
      if (req.method === 'DELETE' && req.path === '/v2/domains/example.com/records/7') return { status: 204 };
      return { status: 404, body: { id: 'not_found' } };
    });
    const dns = createDnsProvider({ provider: 'digitalocean', env: { DO_AUTH_TOKEN: 'do-secret' }, baseUrl: api.base });
    await dns.present(FQDN, 'v4lue');
    await dns.cleanup(FQDN, 'v4lue');
    expect(api.requests.every((req) => req.auth === 'Bearer do-secret')).toBe(true);
    expect(api.requests.map((req) => `${req.method} ${req.path}`)).toEqual([
      'GET /v2/domains',
      'POST /v2/domains/example.com/records',
      'GET /v2/domains',
      'GET /v2/domains/example.com/records',
      'DELETE /v2/domains/example.com/records/7',
    ]);
    expect(api.requests[1]!.body).toEqual({ type: 'TXT', name: '_acme-challenge.a', data: 'v4lue', ttl: 30 });
    expect(api.requests[3]!.query).toMatchObject({ type: 'TXT', name: '_acme-challenge.a.example.com' });
  });

  it('a name in no domain of the account is a clear failure', async () => {
    const api = await fakeApi(() => ({ body: { domains: [{ name: 'other.org' }] } }));
    await expect(digitalOceanProvider({ token: 't', baseUrl: api.base }).present(FQDN, 'v')).rejects.toThrow(/digitalocean: no domain found/);
  });
});

describe('createDnsProvider', () => {
  it('refuses an unknown provider and missing credentials before any network call', () => {
    expect(() => createDnsProvider({ provider: 'gandi', env: {} })).toThrow(/unknown ACME DNS provider "gandi": use one of exec, cloudflare, digitalocean, route53/);
    expect(() => createDnsProvider({ provider: 'cloudflare', env: {} })).toThrow(/cloudflare needs CF_DNS_API_TOKEN/);
    expect(() => createDnsProvider({ provider: 'cloudflare', env: { CF_DNS_API_TOKEN: '' } })).toThrow(/CF_DNS_API_TOKEN/);
    expect(() => createDnsProvider({ provider: 'digitalocean', env: {} })).toThrow(/DO_AUTH_TOKEN/);
    expect(() => createDnsProvider({ provider: 'exec', env: {} })).toThrow(/EXEC_PATH/);
    expect(() => createDnsProvider({ provider: 'cloudflare', env: {} })).toThrow(expect.objectContaining({ name: 'SoakpError', code: 'invalid_config' }));
  });
});
