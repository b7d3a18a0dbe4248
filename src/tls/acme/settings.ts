import { readFileSync } from 'node:fs';
import type { Config } from '../../config/index.js';
import { normalDomains } from '../../domain/index.js';
import { SoakpError } from '../../shared/index.js';
import { createDnsProvider } from './dns/create.js';
import { Http01Solver, type SharedChallenges } from './http01.js';
import { type ObtainOptions, validateObtainOptions } from './options.js';
import { trustCaFor } from './trust.js';

export type AcmeSettings = Config['tls']['acme'];

export const LETS_ENCRYPT = 'https://acme-v02.api.letsencrypt.org/directory';
export const LETS_ENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';

/** Everything an order needs but the account key, checked now: SoakpError('invalid_config') before anything starts. */
export async function orderOptions(settings: AcmeSettings, env: NodeJS.ProcessEnv, shared?: SharedChallenges): Promise<ObtainOptions & { readonly http01: Http01Solver }> {
  const directoryUrl = settings.directory ?? (settings.staging ? LETS_ENCRYPT_STAGING : LETS_ENCRYPT);
  let caPem: string | undefined;
  if (settings.caFile !== undefined) {
    try {
      caPem = readFileSync(settings.caFile, 'utf8');
    } catch (err) {
      throw new SoakpError('invalid_config', `ACME: the CA file ${settings.caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`);
    }
  }
  const dns = settings.challenge === 'dns-01' && settings.dns !== undefined
    ? createDnsProvider({ provider: settings.dns, env: settings.dnsExec === undefined ? env : { ...env, EXEC_PATH: settings.dnsExec } })
    : undefined;
  const { propagation } = settings;
  const options = {
    directoryUrl,
    ...(caPem === undefined ? {} : { caPem }),
    ...(settings.email === undefined ? {} : { email: settings.email }),
    ...(settings.eabKid === undefined || settings.eabHmacKey === undefined ? {} : { externalAccountBinding: { kid: settings.eabKid, hmacKey: settings.eabHmacKey } }),
    domains: normalDomains(settings.domains),
    challenge: settings.challenge,
    http01: new Http01Solver(shared),
    ...(dns === undefined ? {} : { dns }),
    propagation: {
      ...(propagation.resolvers.length > 0 ? { resolvers: propagation.resolvers } : {}),
      timeoutMs: propagation.timeout,
      ...(propagation.delay === undefined ? {} : { delayMs: propagation.delay }),
    },
    poll: { minMs: settings.pollInterval, maxMs: Math.max(30_000, settings.pollInterval) },
  };
  validateObtainOptions(options);
  if (caPem !== undefined) trustCaFor(directoryUrl, caPem);
  await dns?.check?.();
  return options;
}
