import { z } from 'zod';
import { parseDuration } from '../shared/duration.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const AUTH_STYLES = ['bearer', 'api-key', 'x-api-key'] as const;
export const PRESET_NAMES = ['openai', 'nanogpt', 'openrouter'] as const;

const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http:// or https:// URL')
  .refine((u) => !/[?#]/.test(u), 'must not contain a query string or fragment');

const upstream = z
  .object({
    preset: z.enum(PRESET_NAMES).optional(),
    baseUrl: httpUrl.optional(),
    auth: z.enum(AUTH_STYLES).optional(),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'header names are letters, digits and -'), z.string()).optional(),
  })
  .strict()
  .refine((u) => u.preset !== undefined || u.baseUrl !== undefined, 'give a baseUrl or a preset');

const duration = z.string().refine((t) => {
  try {
    parseDuration(t);
    return true;
  } catch {
    return false;
  }
}, 'must be a duration such as 30s, 10m or 1h').transform((t) => parseDuration(t));

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const size = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+\s*(b|kb|mb|gb)$/i, 'must be a size such as 512mb or 64kb').transform((t) => {
    const m = /^(\d+)\s*(b|kb|mb|gb)$/i.exec(t) as RegExpExecArray;
    return Number(m[1]) * (SIZE_UNITS[(m[2] as string).toLowerCase()] as number);
  }),
]);

/** Limits that protect the proxy from its callers. */
const limits = z
  .object({
    // OpenAI accepts uploads up to 512 MB (Uploads API parts, Files API); bodies stream, so
    // this costs no memory — it only stops a caller from tying up a connection without end.
    maxBodySize: size.default(512 * 1024 ** 2),
    /** Time a client may take to send its request headers (slowloris). */
    headersTimeout: duration.default(30_000),
    /** Time a client may take to send its whole request, body included. */
    requestTimeout: duration.default(15 * 60_000),
  })
  .strict();

/** Timeouts towards the upstream. Generous: a reasoning model can think for minutes. */
const timeouts = z
  .object({
    connect: duration.default(10_000),
    /** Until the upstream's response headers arrive. */
    firstByte: duration.default(10 * 60_000),
    /** Longest silence between two chunks of the upstream's body. */
    idle: duration.default(10 * 60_000),
  })
  .strict();

/** USD per million tokens. */
const price = z.object({ input: z.number().min(0).max(10_000), output: z.number().min(0).max(10_000).default(0) }).strict();

/** Rate limits' shared state: in memory (one instance) or Redis (several). */
const rateLimits = z
  .object({
    redisUrl: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
    /** When Redis cannot be reached: refuse (503, the default) or let requests through. */
    failOpen: z.boolean().default(false),
  })
  .strict();

const budgets = z
  .object({
    /** Completion tokens reserved for a request that sets no max_tokens of its own. */
    completionCeiling: z.number().int().min(1).max(10_000_000).default(4096),
    /** Largest JSON or multipart body read to find `model` and `max_tokens`. */
    inspectLimit: size.default(16 * 1024 ** 2),
    /**
     * Add `stream_options.include_usage` to streamed chat and completion requests that lack
     * it, so the upstream reports their usage. Off: requests pass through untouched, and
     * streams without reported usage are counted with a tokenizer instead.
     */
    requestStreamUsage: z.boolean().default(false),
  })
  .strict();

/** Every setting, with its default. The config file uses these names; unknown keys are errors. */
export const configSchema = z
  .object({
    dataDir: z.string().min(1).default('./data'),
    databaseUrl: z.string().min(1).optional(),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(3000),
    upstream: httpUrl.default('https://api.openai.com/v1'),
    defaultUpstream: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/).default('default'),
    upstreams: z.record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'upstream names are lower-case letters, digits, - and _'), upstream).default({}),
    logLevel: z.enum(LOG_LEVELS).default('info'),
    encryptDatabase: z.boolean().default(false),
    limits: limits.default({ maxBodySize: 512 * 1024 ** 2, headersTimeout: 30_000, requestTimeout: 15 * 60_000 }),
    timeouts: timeouts.default({ connect: 10_000, firstByte: 10 * 60_000, idle: 10 * 60_000 }),
    rateLimits: rateLimits.default({ failOpen: false }),
    budgets: budgets.default({ completionCeiling: 4096, inspectLimit: 16 * 1024 ** 2, requestStreamUsage: false }),
    /** Prices by model, over the built-in table (src/policy/prices.ts). */
    prices: z.record(z.string().regex(/^[A-Za-z0-9._:/-]{1,100}$/, 'model names are letters, digits and . _ : / -'), price).default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type UpstreamSettings = z.infer<typeof upstream>;
export type AuthStyle = (typeof AUTH_STYLES)[number];
