import { AcmeError } from '../errors.js';
import type { DnsProvider } from './provider.js';
import { callJson, candidateZones, endpoint } from './rest.js';

export const CLOUDFLARE_API = 'https://api.cloudflare.com/client/v4';

export interface CloudflareOptions {
  /** An API token with Zone:Read and DNS:Edit (lego's CF_DNS_API_TOKEN). */
  readonly token: string;
  readonly baseUrl?: string;
}

interface Envelope<T> {
  readonly success: boolean;
  readonly result: T;
}

/** DNS-01 through Cloudflare's v4 API: find the zone, create the TXT record, delete it by its value. */
export function cloudflareProvider(options: CloudflareOptions): DnsProvider {
  const base = options.baseUrl ?? CLOUDFLARE_API;
  const call = async <T>(method: string, path: string, query?: Record<string, string>, body?: unknown): Promise<T> => {
    const answer = (await callJson('cloudflare', options.token, method, endpoint(base, path, query), body)) as Envelope<T> | undefined;
    if (answer?.success !== true) throw new AcmeError('acme_dns_provider_failed', `cloudflare: ${method} ${path} did not succeed`);
    return answer.result;
  };
  // The longest zone the token can see that holds the name: a delegated sub-zone wins over its parent.
  const zoneOf = async (fqdn: string): Promise<string> => {
    for (const name of candidateZones(fqdn)) {
      const zones = await call<Array<{ id: string }>>('GET', '/zones', { name });
      if (zones[0] !== undefined) return zones[0].id;
    }
    throw new AcmeError('acme_dns_provider_failed', `cloudflare: no zone found for ${fqdn}`);
  };
  const recordName = (fqdn: string): string => fqdn.replace(/\.$/, '');
  return {
    name: 'cloudflare',
    async present(fqdn, value) {
      const zone = await zoneOf(fqdn);
      await call('POST', `/zones/${zone}/dns_records`, undefined, { type: 'TXT', name: recordName(fqdn), content: value, ttl: 120 });
    },
    async cleanup(fqdn, value) {
      const zone = await zoneOf(fqdn);
      const records = await call<Array<{ id: string }>>('GET', `/zones/${zone}/dns_records`, { type: 'TXT', name: recordName(fqdn), content: value });
      for (const record of records) await call('DELETE', `/zones/${zone}/dns_records/${record.id}`);
    },
  };
}
