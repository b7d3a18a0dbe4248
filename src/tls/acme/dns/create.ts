import { SoakpError } from '../../../shared/index.js';
import { cloudflareProvider } from './cloudflare.js';
import { digitalOceanProvider } from './digitalocean.js';
import { execProvider } from './exec.js';
import type { DnsProvider } from './provider.js';
import { route53Provider } from './route53.js';

export const DNS_PROVIDERS = ['exec', 'cloudflare', 'digitalocean', 'route53'] as const;
export type DnsProviderName = (typeof DNS_PROVIDERS)[number];

export interface DnsProviderSpec {
  readonly provider: string;
  /**
   * Where credentials are read from, by lego's names: EXEC_PATH, CF_DNS_API_TOKEN, DO_AUTH_TOKEN;
   * route53's AWS_* (its default chain may also find a role: the provider's check() tells).
   */
  readonly env: NodeJS.ProcessEnv;
  /** The API's base URL (a test's fake server). */
  readonly baseUrl?: string;
}

/**
 * A provider by name, with its credentials checked now: SoakpError('invalid_config') before any
 * network call. Credentials only a lookup can find (route53's roles) are checked by `check()`.
 */
export function createDnsProvider(spec: DnsProviderSpec): DnsProvider {
  const required = (variable: string): string => {
    const value = spec.env[variable];
    if (value === undefined || value === '') {
      throw new SoakpError('invalid_config', `ACME DNS provider ${spec.provider} needs ${variable} in the environment`);
    }
    return value;
  };
  const base = spec.baseUrl === undefined ? {} : { baseUrl: spec.baseUrl };
  switch (spec.provider) {
    case 'exec':
      return execProvider({ command: required('EXEC_PATH'), env: spec.env });
    case 'cloudflare':
      return cloudflareProvider({ token: required('CF_DNS_API_TOKEN'), ...base });
    case 'digitalocean':
      return digitalOceanProvider({ token: required('DO_AUTH_TOKEN'), ...base });
    case 'route53':
      return route53Provider({ env: spec.env, ...base });
    default:
      throw new SoakpError('invalid_config', `unknown ACME DNS provider ${JSON.stringify(spec.provider)}: use one of ${DNS_PROVIDERS.join(', ')}`);
  }
}
