import { parseDuration } from '../shared/duration.js';
import {
  type Check, type Issue, boolean, fail, int, matches, max, min, nonEmpty, number, object, oneOf, optional, record, refine, section, string, withDefault,
} from './check.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const AUTH_STYLES = ['bearer', 'api-key', 'x-api-key'] as const;
export const PRESET_NAMES = ['openai', 'nanogpt', 'openrouter'] as const;
export type AuthStyle = (typeof AUTH_STYLES)[number];

export interface UpstreamSettings {
  preset?: (typeof PRESET_NAMES)[number];
  baseUrl?: string;
  auth?: AuthStyle;
  headers?: Record<string, string>;
}

/** Every setting, with its default filled in. The config file uses these names. */
export interface Config {
  dataDir: string;
  databaseUrl?: string;
  host: string;
  port: number;
  upstream: string;
  defaultUpstream: string;
  upstreams: Record<string, UpstreamSettings>;
  logLevel: (typeof LOG_LEVELS)[number];
  encryptDatabase: boolean;
  limits: { maxBodySize: number; headersTimeout: number; requestTimeout: number };
  timeouts: { connect: number; firstByte: number; idle: number };
  rateLimits: { redisUrl?: string; failOpen: boolean };
  budgets: { completionCeiling: number; inspectLimit: number; requestStreamUsage: boolean };
  /** USD per million tokens, by model, over the built-in table (src/policy/prices.ts). */
  prices: Record<string, { input: number; output: number }>;
}

// As zod's url() did before: the trimmed text must parse as a URL, and it is kept without the
// tabs and line breaks that the URL parser skips.
const httpRules = refine(
  string(),
  [(u) => /^https?:\/\//i.test(u), 'must be an http:// or https:// URL'],
  [(u) => !/[?#]/.test(u), 'must not contain a query string or fragment'],
);
const httpUrl: Check<string> = (v, path, issues) => {
  if (typeof v !== 'string') return fail(issues, path, 'must be a string');
  if (!URL.canParse(v.trim())) return fail(issues, path, 'must be a URL');
  return httpRules(v.trim().replace(/[\t\n\r]/g, ''), path, issues);
};

const duration: Check<number> = (v, path, issues) => {
  try {
    if (typeof v === 'string') return parseDuration(v);
  } catch {
    // reported below
  }
  return fail(issues, path, 'must be a duration such as 30s, 10m or 1h');
};

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const size: Check<number> = (v, path, issues) => {
  const m = typeof v === 'string' ? /^(\d+)\s*(b|kb|mb|gb)$/i.exec(v) : null;
  if (m) return Number(m[1]) * (SIZE_UNITS[(m[2] as string).toLowerCase()] as number);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return v;
  return fail(issues, path, 'must be a size such as 512mb or 64kb, or a whole number of bytes');
};

const NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const upstream: Check<UpstreamSettings> = refine(
  object({
    preset: optional(oneOf(PRESET_NAMES)),
    baseUrl: optional(httpUrl),
    auth: optional(oneOf(AUTH_STYLES)),
    headers: optional(record(matches(/^[A-Za-z0-9-]+$/, 'header names are letters, digits and -'), string())),
  }),
  [(u) => u.preset !== undefined || u.baseUrl !== undefined, 'give a baseUrl or a preset'],
);

const price = object({ input: number(min(0), max(10_000)), output: withDefault(number(min(0), max(10_000)), 0) });

const configCheck: Check<Config> = object({
  dataDir: withDefault(string(nonEmpty), './data'),
  databaseUrl: optional(string(nonEmpty)),
  host: withDefault(string(nonEmpty), '127.0.0.1'),
  port: withDefault(number(int, min(0), max(65535)), 3000),
  upstream: withDefault(httpUrl, 'https://api.openai.com/v1'),
  defaultUpstream: withDefault(string(matches(NAME)), 'default'),
  upstreams: withDefault(record(matches(NAME, 'upstream names are lower-case letters, digits, - and _'), upstream), () => ({})),
  logLevel: withDefault(oneOf(LOG_LEVELS), 'info'),
  encryptDatabase: withDefault(boolean, false),
  /** Limits that protect the proxy from its callers. */
  limits: section({
    // OpenAI accepts uploads up to 512 MB (Uploads API parts, Files API); bodies stream, so
    // this costs no memory — it only stops a caller from tying up a connection without end.
    maxBodySize: withDefault(size, 512 * 1024 ** 2),
    /** Time a client may take to send its request headers (slowloris). */
    headersTimeout: withDefault(duration, 30_000),
    /** Time a client may take to send its whole request, body included. */
    requestTimeout: withDefault(duration, 15 * 60_000),
  }),
  /** Timeouts towards the upstream. Generous: a reasoning model can think for minutes. */
  timeouts: section({
    connect: withDefault(duration, 10_000),
    /** Until the upstream's response headers arrive. */
    firstByte: withDefault(duration, 10 * 60_000),
    /** Longest silence between two chunks of the upstream's body. */
    idle: withDefault(duration, 10 * 60_000),
  }),
  /** Rate limits' shared state: in memory (one instance) or Redis (several). */
  rateLimits: section({
    redisUrl: optional(string(matches(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'))),
    /** When Redis cannot be reached: refuse (503, the default) or let requests through. */
    failOpen: withDefault(boolean, false),
  }),
  budgets: section({
    /** Completion tokens reserved for a request that sets no max_tokens of its own. */
    completionCeiling: withDefault(number(int, min(1), max(10_000_000)), 4096),
    /** Largest JSON or multipart body read to find `model` and `max_tokens`. */
    inspectLimit: withDefault(size, 16 * 1024 ** 2),
    /**
     * Add `stream_options.include_usage` to streamed chat and completion requests that lack
     * it, so the upstream reports their usage. Off: requests pass through untouched, and
     * streams without reported usage are counted with a tokenizer instead.
     */
    requestStreamUsage: withDefault(boolean, false),
  }),
  prices: withDefault(record(matches(/^[A-Za-z0-9._:/-]{1,100}$/, 'model names are letters, digits and . _ : / -'), price), () => ({})),
});

/** Checks raw settings (unknown keys are errors) and fills in the defaults. */
export function checkConfig(raw: unknown): { config: Config; issues: [] } | { config?: undefined; issues: Issue[] } {
  const issues: Issue[] = [];
  const config = configCheck(raw, [], issues);
  return issues.length === 0 ? { config, issues: [] } : { issues };
}

/** As checkConfig, throwing on the first problem: for settings written in code (tests, the library). */
export function parseConfig(raw: unknown): Config {
  const { config, issues } = checkConfig(raw);
  if (!config) throw new Error(issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; '));
  return config;
}
