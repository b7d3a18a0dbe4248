/** The `tls:` settings that flags and the environment give, over the config file's `tls:` section. */
export interface TlsOverrides {
  /** `tls.cert`, `tls.key`, `tls.mode` and `tls.names` (`--tls-name` is repeatable). */
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  tls?: string | undefined;
  tlsName?: string[] | undefined;
  /** `tls.acme.*` (`--acme-domain` is repeatable). */
  acmeDomain?: string[] | undefined;
  acmeEmail?: string | undefined;
  acmeDirectory?: string | undefined;
  acmeStaging?: boolean | undefined;
  acmeCaFile?: string | undefined;
  acmeChallenge?: string | undefined;
  acmeDns?: string | undefined;
  acmeDnsExec?: string | undefined;
  acmeEabKid?: string | undefined;
}

type Kind = 'text' | 'list' | 'flag';
/** Flag → [setting under `tls:` (dotted), environment variable, kind]. The EAB HMAC key has no flag: a command line is visible to every local user. */
const SETTINGS: Record<keyof TlsOverrides | 'acmeEabHmacKey', readonly [string, string, Kind]> = {
  tlsCert: ['cert', 'SOAKP_TLS_CERT', 'text'],
  tlsKey: ['key', 'SOAKP_TLS_KEY', 'text'],
  tls: ['mode', 'SOAKP_TLS', 'text'],
  tlsName: ['names', 'SOAKP_TLS_NAME', 'list'],
  acmeDomain: ['acme.domains', 'SOAKP_ACME_DOMAIN', 'list'],
  acmeEmail: ['acme.email', 'SOAKP_ACME_EMAIL', 'text'],
  acmeDirectory: ['acme.directory', 'SOAKP_ACME_DIRECTORY', 'text'],
  acmeStaging: ['acme.staging', 'SOAKP_ACME_STAGING', 'flag'],
  acmeCaFile: ['acme.caFile', 'SOAKP_ACME_CA_FILE', 'text'],
  acmeChallenge: ['acme.challenge', 'SOAKP_ACME_CHALLENGE', 'text'],
  acmeDns: ['acme.dns', 'SOAKP_ACME_DNS', 'text'],
  acmeDnsExec: ['acme.dnsExec', 'SOAKP_ACME_DNS_EXEC', 'text'],
  acmeEabKid: ['acme.eabKid', 'SOAKP_ACME_EAB_KID', 'text'],
  acmeEabHmacKey: ['acme.eabHmacKey', 'SOAKP_ACME_EAB_HMAC_KEY', 'text'],
};

export const TLS_FLAGS = Object.keys(SETTINGS).filter((k) => k !== 'acmeEabHmacKey') as Array<keyof TlsOverrides>;

/** The `tls` settings from the environment, then flags, over the config file's `tls:` section. */
export function tlsFrom(raw: Record<string, unknown>, origin: Record<string, string>, env: NodeJS.ProcessEnv, flags: TlsOverrides): void {
  const tls = copy(raw.tls);
  const sources: string[] = [];
  for (const [path, name, kind] of Object.values(SETTINGS)) {
    const value = env[name];
    if (value === undefined || value.trim() === '') continue;
    put(tls, path, fromEnv(value, kind));
    sources.push(name);
  }
  for (const key of TLS_FLAGS) {
    const value = flags[key];
    if (value === undefined) continue;
    put(tls, SETTINGS[key][0], value);
    sources.push(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  }
  if (sources.length === 0) return;
  raw.tls = tls;
  origin.tls = `${origin.tls ? `${origin.tls}, ` : ''}from ${sources.join(', ')}`;
}

function fromEnv(value: string, kind: Kind): unknown {
  if (kind === 'list') return value.split(',').map((n) => n.trim()).filter((n) => n !== '');
  // Plainly a boolean, or left as text for the schema to refuse with its source named.
  if (kind === 'flag' && /^(1|true|yes|on|0|false|no|off)$/i.test(value)) return /^(1|true|yes|on)$/i.test(value);
  return value;
}

function copy(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...(value as Record<string, unknown>) } : {};
}

/** Sets a dotted path, copying each mapping on the way (the config file's own objects stay as read). */
function put(target: Record<string, unknown>, path: string, value: unknown): void {
  const [head, ...rest] = path.split('.') as [string, ...string[]];
  if (rest.length === 0) {
    target[head] = value;
    return;
  }
  const inner = copy(target[head]);
  put(inner, rest.join('.'), value);
  target[head] = inner;
}
