import * as v from 'valibot';
import { parseDuration } from '../shared/index.js';
import { cidrs, dict, duration, durationValue, filled, flag, httpUrl, mapping, named, number, oneOf, origins, size, text, whole } from './kinds.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const AUTH_STYLES = ['bearer', 'api-key', 'x-api-key'] as const;
export const PRESET_NAMES = ['openai', 'nanogpt', 'openrouter'] as const;
export const TLS_MODES = ['local', 'acme'] as const;
export const TLS_VERSIONS = ['1.2', '1.3'] as const;
export const ACME_CHALLENGES = ['http-01', 'dns-01'] as const;
export const ACME_DNS_PROVIDERS = ['exec', 'cloudflare', 'route53', 'digitalocean'] as const;
export type AuthStyle = (typeof AUTH_STYLES)[number];

/** One problem with the settings, at a path of setting names. */
export interface Issue {
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** For an unknown key: its name (the issue's path is that of the mapping holding it). */
  readonly key?: string;
}

const hstsMs = (text: string): number | undefined => {
  try {
    return parseDuration(text);
  } catch {
    return undefined; // refused by the number check that follows
  }
};

const NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const upstream = v.pipe(
  mapping({
    preset: v.optional(oneOf(PRESET_NAMES)),
    baseUrl: v.optional(httpUrl),
    auth: v.optional(oneOf(AUTH_STYLES)),
    headers: v.optional(dict(named(/^[A-Za-z0-9-]+$/, 'header names are letters, digits and -'), text)),
    /** Pass callers' OpenAI-Organization and OpenAI-Project headers (off: the key's defaults apply). */
    forwardOrganization: v.optional(flag),
  }),
  v.check((u) => u.preset !== undefined || u.baseUrl !== undefined, 'give a baseUrl or a preset'),
);

/** ACME settings (docs/tls.md); checked against each other in tls-checks.ts. */
const acme = mapping({
  /** The certificate's names, the first its subject; `*.example.com` needs dns-01. */
  domains: v.optional(v.array(filled, 'must be a list of domain names'), []),
  email: v.optional(filled),
  /** The CA's ACME directory URL (default Let's Encrypt production). */
  directory: v.optional(httpUrl),
  /** Let's Encrypt's staging directory instead of production. */
  staging: v.optional(flag, false),
  /** PEM of a CA to trust for a private ACME server's HTTPS (Pebble, step-ca). */
  caFile: v.optional(filled),
  challenge: v.optional(oneOf(ACME_CHALLENGES), 'http-01'),
  /** Who publishes dns-01 TXT records. */
  dns: v.optional(oneOf(ACME_DNS_PROVIDERS)),
  /** The `exec` provider's program (lego's EXEC_PATH convention). */
  dnsExec: v.optional(filled),
  /** External Account Binding, for CAs that require it (the HMAC key is better given as SOAKP_ACME_EAB_HMAC_KEY). */
  eabKid: v.optional(filled),
  eabHmacKey: v.optional(filled),
  /** How a dns-01 record is seen before the CA is asked: the zone's authoritative servers, or these resolvers, or a fixed delay. */
  propagation: v.optional(
    mapping({
      resolvers: v.optional(v.array(filled, 'must be a list of addresses (ip or ip:port)'), []),
      timeout: duration('120s'),
      delay: v.optional(durationValue),
    }),
    {},
  ),
  /** How often to ask the CA about a pending order. */
  pollInterval: duration('5s'),
  /**
   * After a failed order: the first retry, doubling (with jitter: half to all of it) up to
   * `retryMax`. 5 minutes keeps under Let's Encrypt's limit of 5 failed validations an hour.
   */
  retryMin: duration('5m'),
  retryMax: duration('1h'),
});

const price = mapping({ input: number(0, 10_000), output: v.optional(number(0, 10_000), 0) });

const configSchema = mapping({
  dataDir: v.optional(filled, './data'),
  databaseUrl: v.optional(filled),
  host: v.optional(filled, '127.0.0.1'),
  port: v.optional(whole(0, 65535), 3000),
  /** With TLS on: a plain-HTTP port that answers ACME HTTP-01 challenges and redirects the rest to HTTPS. */
  httpPort: v.optional(whole(0, 65535)),
  upstream: v.optional(httpUrl, 'https://api.openai.com/v1'),
  defaultUpstream: v.optional(named(NAME), 'default'),
  upstreams: v.optional(dict(named(NAME, 'upstream names are lower-case letters, digits, - and _'), upstream), {}),
  logLevel: v.optional(oneOf(LOG_LEVELS), 'info'),
  encryptDatabase: v.optional(flag, false),
  /**
   * How long a stopping server (SIGTERM, SIGINT) lets requests in flight finish; streams still
   * open then are cut, and what they used is recorded. Below a container's stop timeout.
   */
  shutdownGrace: duration('10s'),
  /** Reverse proxies whose Forwarded / X-Forwarded-* headers name the client (IP ranges). */
  trustProxy: v.optional(cidrs, []),
  /** Limits that protect the proxy from its callers. */
  limits: v.optional(
    mapping({
      // OpenAI accepts uploads up to 512 MB (Uploads API parts, Files API); bodies stream, so
      // this costs no memory — it only stops a caller from tying up a connection without end.
      maxBodySize: size('512mb'),
      /** Time a client may take to send a request's headers, from connecting or from its first byte (slowloris). */
      headersTimeout: duration('10s'),
      /** Time a client may take to send its whole request, body included. */
      requestTimeout: duration('15m'),
      /** How long a connection may sit idle between requests before it is closed. */
      keepAliveTimeout: duration('5s'),
      /** Open connections in all; over it a new connection is closed at once. */
      maxConnections: v.optional(whole(1, 1_000_000), 10_000),
      /** Open connections from one address (trusted proxies excepted: they carry many clients). */
      maxConnectionsPerAddress: v.optional(whole(1, 1_000_000), 256),
      /** Bytes all request bodies being read for policies may hold together (past it: 503). */
      inspectTotal: size('256mb'),
      /** Slowest a body being read for policies may arrive, in bytes a second (`0b`: no minimum). */
      minBodyRate: size('64kb'),
      /** Time a body may take before the minimum rate applies. */
      minBodyRateAfter: duration('10s'),
    }),
    {},
  ),
  /** Timeouts towards the upstream. Generous: a reasoning model can think for minutes. */
  timeouts: v.optional(
    mapping({
      connect: duration('10s'),
      /** Until the upstream's response headers arrive. */
      firstByte: duration('10m'),
      /** Longest silence between two chunks of the upstream's body. */
      idle: duration('10m'),
    }),
    {},
  ),
  /** Rate limits' shared state: in memory (one instance) or Redis (several). */
  rateLimits: v.optional(
    mapping({
      redisUrl: v.optional(named(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')),
      /** When Redis cannot be reached: refuse (503, the default) or let requests through. */
      failOpen: v.optional(flag, false),
    }),
    {},
  ),
  budgets: v.optional(
    mapping({
      /** Completion tokens reserved for a request that sets no max_tokens of its own. */
      completionCeiling: v.optional(whole(1, 10_000_000), 4096),
      /** Largest JSON or multipart body read to find `model` and `max_tokens`. */
      inspectLimit: size('16mb'),
      /**
       * Add `stream_options.include_usage` to streamed chat and completion requests that lack
       * it, so the upstream reports their usage, and take the usage it adds back out of the
       * answer (the client gets what it asked for). Off: requests pass through untouched, and
       * streams without reported usage are counted with a tokenizer instead.
       */
      requestStreamUsage: v.optional(flag, true),
      /**
       * Paths soakp cannot meter (not an OpenAI endpoint family it knows) for tokens with a
       * budget, a TPM limit or a model or endpoint scope: `refuse` (403) or `allow` unmetered.
       */
      unknownEndpoints: v.optional(oneOf(['refuse', 'allow'] as const), 'refuse'),
      /**
       * An instance whose heartbeat (every quarter of this) has not changed for this long is
       * presumed dead, and another releases the budget reservations it held.
       */
      instanceTimeout: v.optional(v.pipe(durationValue, v.minValue(1000, 'must be at least 1s')), '60s'),
    }),
    {},
  ),
  /** How the JWT that Open WebUI signs for each request (X-OpenWebUI-User-Jwt) is checked. */
  openwebui: v.optional(
    mapping({
      /** Longest a token may live (exp − iat) and oldest it may be: twice Open WebUI's 300 s. */
      maxTokenAge: duration('600s'),
      /** How far ahead of this server's clock a token's `iat` may be. */
      clockTolerance: duration('30s'),
    }),
    {},
  ),
  /** Browser apps (docs/browser.md): which web origins may call /v1 from a page. */
  cors: v.optional(
    mapping({
      /** Allowed for every token; origin-bound tokens add their own. Empty: only those. */
      origins: v.optional(origins, []),
      /** How long a browser may reuse a preflight's answer (Access-Control-Max-Age). */
      maxAge: duration('10m'),
    }),
    {},
  ),
  /** Short-lived tokens minted for web pages by an app's server (`POST /api/tokens/ephemeral`). */
  ephemeralTokens: v.optional(
    mapping({
      /** Lifetime of a token whose request names none. */
      defaultTtl: duration('10m'),
      /** Longest lifetime a request may ask for. */
      maxTtl: duration('60m'),
      /** Tokens one minting token may mint a minute. */
      mintsPerMinute: v.optional(whole(1, 1_000_000), 60),
    }),
    {},
  ),
  /** HTTPS on `port`: from certificate files, a local certificate authority, or ACME (docs/tls.md). */
  tls: v.optional(
    v.pipe(
      mapping({
        /** PEM certificate chain (leaf first); reloaded when the file changes. */
        cert: v.optional(filled),
        /** PEM private key of `cert`; reloaded with it. */
        key: v.optional(filled),
        /** `local`: a local CA in the data directory issues the certificate; `acme`: an ACME CA. */
        mode: v.optional(oneOf(TLS_MODES)),
        /** Names the local CA's certificate is for (default: localhost, 127.0.0.1, ::1 and the host name). */
        names: v.optional(v.array(filled, 'must be a list of host names or IP addresses'), []),
        /** Oldest TLS version accepted. */
        minVersion: v.optional(oneOf(TLS_VERSIONS), '1.2'),
        /** When set, answers carry `Strict-Transport-Security: max-age=<this>` (e.g. 1y). */
        hsts: v.optional(v.pipe(v.string('must be a duration such as 180d or 1y'), v.transform(hstsMs), v.number('must be a duration such as 180d or 1y'))),
        /** `mode: acme`: certificates from an ACME CA (Let's Encrypt by default), renewed by soakp. */
        acme: v.optional(acme, {}),
      }),
      v.check((t) => (t.cert === undefined) === (t.key === undefined), 'give both cert and key (--tls-cert and --tls-key), or neither'),
      v.check((t) => t.cert === undefined || t.mode === undefined, 'give either certificate files or a mode (local, acme), not both'),
    ),
    {},
  ),
  /** USD per million tokens, by model, over the built-in table (src/policy/prices.ts). */
  prices: v.optional(dict(named(/^[A-Za-z0-9._:/-]{1,100}$/, 'model names are letters, digits and . _ : / -'), price), {}),
});

/** Every setting, with its default filled in. The config file uses these names. */
export type Config = v.InferOutput<typeof configSchema>;
export type UpstreamSettings = v.InferOutput<typeof upstream>;

/** Checks raw settings (unknown keys are errors) and fills in the defaults. */
export function checkConfig(raw: unknown): { config: Config; issues: [] } | { config?: undefined; issues: Issue[] } {
  // abortPipeEarly: each setting reports its first problem only ("must be a whole number", not
  // that and "must be at most 65535" too); every setting is still checked.
  const result = v.safeParse(configSchema, raw, { abortPipeEarly: true });
  if (result.success) return { config: result.output, issues: [] };
  return { issues: result.issues.map(toIssue) };
}

function toIssue(issue: v.BaseIssue<unknown>): Issue {
  const path = (issue.path ?? []).map((item) => item.key as string | number);
  // valibot puts an unknown key at the end of the path; it is reported on the mapping holding it
  // ("prices.gpt-4o: Unrecognized key"), its name kept for load.ts to find where it came from.
  if (issue.type !== 'strict_object' || issue.expected !== 'never') return { path, message: issue.message };
  return { path: path.slice(0, -1), key: String(issue.input), message: issue.message };
}

/** As checkConfig, throwing on the first problem: for settings written in code (tests, the library). */
export function parseConfig(raw: unknown): Config {
  const { config, issues } = checkConfig(raw);
  if (!config) throw new Error(issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; '));
  return config;
}
