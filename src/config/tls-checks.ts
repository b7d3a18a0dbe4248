import type { Config } from './schema.js';

type Tls = Config['tls'];
const ACME_NAMES = 'Give them with --tls acme --acme-domain NAME, or tls.mode: acme in the config file';

/** What the `tls` settings and `httpPort` say about each other; one line per problem. */
export function checkTls(config: Config): string[] {
  const { tls, httpPort } = config;
  const on = tls.cert !== undefined || tls.mode !== undefined;
  const problems: string[] = [];
  if (httpPort !== undefined && !on) problems.push('httpPort: only with TLS on (without TLS, port serves plain HTTP already)');
  if (httpPort !== undefined && httpPort !== 0 && httpPort === config.port) problems.push('httpPort: must differ from port');
  if (tls.mode === 'acme') problems.push(...acmeProblems(tls, httpPort));
  else if (acmeGiven(tls.acme)) problems.push(`tls.acme: ACME settings are given but tls.mode is ${tls.mode ?? 'not set'}. ${ACME_NAMES}.`);
  return problems;
}

function acmeProblems(tls: Tls, httpPort: number | undefined): string[] {
  const { acme } = tls;
  const problems: string[] = [];
  if (acme.domains.length === 0) problems.push('tls.acme.domains: ACME needs at least one domain name (--acme-domain)');
  if (tls.names.length > 0) problems.push('tls.names: is for the local CA; with ACME the names are tls.acme.domains (--acme-domain)');
  if (acme.staging && acme.directory !== undefined) problems.push('tls.acme: give either a directory or staging, not both');
  const wildcards = acme.domains.filter((d) => d.startsWith('*.'));
  if (acme.challenge === 'http-01') {
    if (wildcards.length > 0) problems.push(`tls.acme.domains: ${wildcards.join(', ')}: a wildcard name can only be validated with dns-01 (--acme-challenge dns-01 --acme-dns …), not http-01`);
    if (httpPort === undefined) problems.push('tls.acme.challenge: http-01 needs httpPort (--http-port): the CA connects to port 80 of each domain, which must reach it');
    if (acme.dns !== undefined) problems.push('tls.acme.dns: a DNS provider is only used with --acme-challenge dns-01');
  } else if (acme.dns === undefined) {
    problems.push('tls.acme.dns: dns-01 needs a DNS provider (--acme-dns exec|cloudflare|route53|digitalocean)');
  }
  if (acme.dnsExec !== undefined && acme.dns !== 'exec') problems.push('tls.acme.dnsExec: only with the exec DNS provider (--acme-dns exec)');
  if ((acme.eabKid === undefined) !== (acme.eabHmacKey === undefined)) {
    problems.push('tls.acme: External Account Binding needs both a key id and an HMAC key (SOAKP_ACME_EAB_KID, SOAKP_ACME_EAB_HMAC_KEY)');
  }
  if (acme.retryMin > acme.retryMax) problems.push('tls.acme.retryMin: must not be longer than retryMax');
  // An order is given up after 30 minutes; each name's wait must leave room for the rest of it.
  if (acme.propagation.timeout > 600_000) problems.push('tls.acme.propagation.timeout: must be at most 10m');
  return problems;
}

function acmeGiven(acme: Tls['acme']): boolean {
  return acme.domains.length > 0 || [acme.email, acme.directory, acme.caFile, acme.dns, acme.dnsExec, acme.eabKid].some((v) => v !== undefined) || acme.staging;
}
