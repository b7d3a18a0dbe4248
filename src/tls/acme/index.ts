// ACME (RFC 8555) certificates: obtain and renew with HTTP-01 or DNS-01; the server's source is managed.ts.
export { obtainCertificate, type ObtainedCertificate } from './obtain.js';
export { type AcmeChallenge, type ObtainOptions, validateObtainOptions } from './options.js';
export { AcmeError, type AcmeErrorCode } from './errors.js';
export { Http01Solver } from './http01.js';
export type { DnsProvider } from './dns/provider.js';
export { createDnsProvider, DNS_PROVIDERS, type DnsProviderName, type DnsProviderSpec } from './dns/create.js';
export { execProvider, type ExecProviderOptions } from './dns/exec.js';
export { cloudflareProvider, CLOUDFLARE_API, type CloudflareOptions } from './dns/cloudflare.js';
export { digitalOceanProvider, DIGITALOCEAN_API, type DigitalOceanOptions } from './dns/digitalocean.js';
export { route53Provider, type Route53Options } from './dns/route53.js';
export { waitForTxt, type PropagationOptions } from './dns/propagation.js';
