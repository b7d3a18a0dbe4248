import { AcmeError } from '../errors.js';
import type { DnsProvider } from './provider.js';
import { callJson, candidateZones, endpoint } from './rest.js';

export const DIGITALOCEAN_API = 'https://api.digitalocean.com';

export interface DigitalOceanOptions {
  /** A personal access token with write scope (lego's DO_AUTH_TOKEN). */
  readonly token: string;
  readonly baseUrl?: string;
}

interface DomainRecord {
  readonly id: number;
  readonly data: string;
}

/** DNS-01 through DigitalOcean's v2 API: find the domain, create the TXT record, delete it by its value. */
export function digitalOceanProvider(options: DigitalOceanOptions): DnsProvider {
  const base = options.baseUrl ?? DIGITALOCEAN_API;
  const call = (method: string, path: string, query?: Record<string, string>, body?: unknown): Promise<unknown> =>
    callJson('digitalocean', options.token, method, endpoint(base, path, query), body);
  const domainOf = async (fqdn: string): Promise<string> => {
    const { domains } = (await call('GET', '/v2/domains', { per_page: '200' })) as { domains: Array<{ name: string }> };
    const names = new Set(domains.map((domain) => domain.name));
    const found = candidateZones(fqdn).find((zone) => names.has(zone));
    if (found === undefined) throw new AcmeError('acme_dns_provider_failed', `digitalocean: no domain found for ${fqdn}`);
    return found;
  };
  const relative = (fqdn: string, domain: string): string => fqdn.replace(/\.$/, '').slice(0, -(domain.length + 1));
  return {
    name: 'digitalocean',
    async present(fqdn, value) {
      const domain = await domainOf(fqdn);
      await call('POST', `/v2/domains/${domain}/records`, undefined, { type: 'TXT', name: relative(fqdn, domain), data: value, ttl: 30 });
    },
    async cleanup(fqdn, value) {
      const domain = await domainOf(fqdn);
      // DigitalOcean filters records by their full name.
      const query = { type: 'TXT', name: fqdn.replace(/\.$/, ''), per_page: '200' };
      const { domain_records } = (await call('GET', `/v2/domains/${domain}/records`, query)) as { domain_records: DomainRecord[] };
      for (const record of domain_records.filter((r) => r.data === value)) await call('DELETE', `/v2/domains/${domain}/records/${record.id}`);
    },
  };
}
