import { z } from 'zod';

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
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type UpstreamSettings = z.infer<typeof upstream>;
export type AuthStyle = (typeof AUTH_STYLES)[number];
