import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { parse } from 'yaml';
import { SoakpError } from '../shared/index.js';
import { type Config, checkConfig } from './schema.js';
import { type TlsOverrides, tlsFrom } from './tls-overrides.js';
import { checkTls } from './tls-checks.js';
import { checkUpstreams } from './upstreams.js';

/** Settings that flags and the environment can give (the rest live in the config file). */
export interface Overrides extends TlsOverrides {
  config?: string | undefined;
  dataDir?: string | undefined;
  databaseUrl?: string | undefined;
  host?: string | undefined;
  port?: string | number | undefined;
  httpPort?: string | number | undefined;
  upstream?: string | undefined;
  logLevel?: string | undefined;
  encryptDatabase?: boolean | undefined;
  /** How long a stopping server lets requests in flight finish (a duration). */
  shutdownGrace?: string | undefined;
  /** `cors.origins`, comma-separated. */
  corsOrigins?: string | undefined;
}

/** SOAKP_REDIS_URL sets `rateLimits.redisUrl` (a nested setting the flags do not carry). */
function redisFromEnv(raw: Record<string, unknown>, origin: Record<string, string>, env: NodeJS.ProcessEnv): void {
  const url = nonEmpty(env.SOAKP_REDIS_URL);
  if (url === undefined) return;
  const current = raw.rateLimits;
  raw.rateLimits = { ...(typeof current === 'object' && current !== null ? current : {}), redisUrl: url };
  origin.rateLimits = 'from SOAKP_REDIS_URL';
}

/** SOAKP_TRUST_PROXY sets `trustProxy` (comma-separated CIDRs; no flag carries it). */
function trustProxyFromEnv(raw: Record<string, unknown>, origin: Record<string, string>, env: NodeJS.ProcessEnv): void {
  const value = nonEmpty(env.SOAKP_TRUST_PROXY);
  if (value !== undefined) set(raw, origin, 'trustProxy', value, 'from SOAKP_TRUST_PROXY');
}

/** `cors.origins` from SOAKP_CORS_ORIGINS, then --cors-origins (comma-separated), over the config file's. */
function corsFrom(raw: Record<string, unknown>, origin: Record<string, string>, env: NodeJS.ProcessEnv, flags: Overrides): void {
  const [value, where] = flags.corsOrigins !== undefined ? [flags.corsOrigins, 'from --cors-origins'] : [nonEmpty(env.SOAKP_CORS_ORIGINS), 'from SOAKP_CORS_ORIGINS'];
  if (value === undefined) return;
  const current = raw.cors;
  raw.cors = { ...(typeof current === 'object' && current !== null && !Array.isArray(current) ? current : {}), origins: value };
  origin.cors = where;
}

const ENV: Record<keyof Omit<Overrides, 'config' | 'corsOrigins' | keyof TlsOverrides>, string> = {
  dataDir: 'SOAKP_DATA_DIR',
  databaseUrl: 'SOAKP_DATABASE_URL',
  host: 'SOAKP_HOST',
  port: 'SOAKP_PORT',
  httpPort: 'SOAKP_HTTP_PORT',
  upstream: 'SOAKP_UPSTREAM',
  logLevel: 'SOAKP_LOG_LEVEL',
  encryptDatabase: 'SOAKP_ENCRYPT_DATABASE',
  shutdownGrace: 'SOAKP_SHUTDOWN_GRACE',
};

export interface Loaded {
  config: Config;
  configFile: string | undefined;
}

/** Defaults ← config file ← environment ← flags. Throws one error listing every problem. */
export function loadConfig(flags: Overrides, given: NodeJS.ProcessEnv): Loaded {
  const problems: string[] = [];
  const env = withFileVariables(given, problems);
  const configFile = flags.config ?? nonEmpty(env.SOAKP_CONFIG);
  const raw: Record<string, unknown> = configFile ? readConfigFile(configFile, problems) : {};
  const origin: Record<string, string> = Object.fromEntries(Object.keys(raw).map((k) => [k, `in ${configFile}`]));
  for (const [key, name] of Object.entries(ENV)) {
    const value = nonEmpty(env[name]);
    if (value !== undefined) set(raw, origin, key, fromText(key, value), `from ${name}`);
  }
  for (const key of Object.keys(ENV)) {
    const value = flags[key as keyof Overrides];
    if (value !== undefined) set(raw, origin, key, typeof value === 'string' ? fromText(key, value) : value, `from --${kebab(key)}`);
  }
  redisFromEnv(raw, origin, env);
  tlsFrom(raw, origin, env, flags);
  trustProxyFromEnv(raw, origin, env);
  corsFrom(raw, origin, env, flags);
  const { config, issues } = checkConfig(raw);
  for (const issue of issues) {
    const path = issue.path.join('.') || '(top level)';
    // A top-level unknown key has an empty path; its origin is that of the key itself.
    const key = issue.path[0] ?? issue.key;
    const where = key === undefined ? undefined : origin[String(key)];
    problems.push(`${path}: ${issue.message}${where ? ` (${where})` : ''}`);
  }
  if (config) problems.push(...checkUpstreams(config), ...checkTls(config), ...checkDatabase(config));
  if (problems.length > 0 || !config) {
    throw new SoakpError('invalid_config', `Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return { config, configFile };
}

/** Settings that may hold a password, also read from a file (`<NAME>_FILE`: Docker and Kubernetes secrets). */
const FILE_VARIABLES = ['SOAKP_DATABASE_URL', 'SOAKP_REDIS_URL'] as const;

/** `env` with each of FILE_VARIABLES filled from its `_FILE` when only that is set (the variable itself wins). */
function withFileVariables(env: NodeJS.ProcessEnv, problems: string[]): NodeJS.ProcessEnv {
  let out = env;
  for (const name of FILE_VARIABLES) {
    const file = nonEmpty(env[`${name}_FILE`]);
    if (file === undefined || nonEmpty(env[name]) !== undefined) continue;
    try {
      out = { ...out, [name]: readFileSync(file, 'utf8').trim() };
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return out;
}

/** The database URL names a store soakp has, and whole-file encryption goes with SQLite only. */
function checkDatabase(config: Config): string[] {
  const url = config.databaseUrl?.trim();
  if (url === undefined) return [];
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  const known = scheme === undefined || ['postgres', 'postgresql', 'sqlite', 'memory'].includes(scheme) || /^[a-z]:[\\/]/i.test(url);
  if (!known) return [`databaseUrl: "${scheme}:" is not a store soakp has; use a SQLite file (a path or sqlite:PATH), postgres://… or memory:`];
  if (config.encryptDatabase && (scheme === 'postgres' || scheme === 'postgresql' || scheme === 'memory')) {
    return ['encryptDatabase: whole-file encryption (SQLCipher) is for SQLite files; on PostgreSQL the vault encrypts every secret itself, and TLS to the database (sslmode=verify-full) protects the connection'];
  }
  return [];
}

function readConfigFile(file: string, problems: string[]): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    problems.push(`config file ${file} cannot be read`);
    return {};
  }
  // Loaded only when there is a file to read (~3 MB a server configured by flags and environment
  // need not carry); synchronously, as loading the configuration is.
  const load = createRequire(import.meta.url); // a local name: the import rules see what it loads
  const parseYaml = (load('yaml') as { parse: typeof parse }).parse;
  try {
    const value: unknown = parseYaml(text); // YAML is a superset of JSON: one parser for both
    if (value === null || value === undefined) return {};
    if (typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    problems.push(`config file ${file} must hold a mapping of settings`);
  } catch (err) {
    problems.push(`config file ${file} is not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  return {};
}

function set(raw: Record<string, unknown>, origin: Record<string, string>, key: string, value: unknown, where: string): void {
  raw[key] = value;
  origin[key] = where;
}

// Environment and flags are text; numbers and booleans are converted only when they are
// plainly such, so that "abc" still reaches validation and is reported with its source.
function fromText(key: string, value: string): unknown {
  if ((key === 'port' || key === 'httpPort') && /^\d+$/.test(value)) return Number(value);
  if (key === 'encryptDatabase' && /^(1|true|yes|on|0|false|no|off)$/i.test(value)) return /^(1|true|yes|on)$/i.test(value);
  return value;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
