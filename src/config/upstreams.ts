import type { AuthStyle, Config } from './schema.js';

/** An upstream as the proxy uses it: where to send requests and how to present the key. */
export interface Upstream {
  readonly name: string;
  /** Without a trailing slash, e.g. `https://api.openai.com/v1`. */
  readonly baseUrl: string;
  readonly auth: AuthStyle;
  readonly headers: Readonly<Record<string, string>>;
  /** Callers' `OpenAI-Organization` and `OpenAI-Project` headers pass (they choose what the key bills). */
  readonly forwardOrganization?: boolean;
}

export const PRESETS: Record<string, Omit<Upstream, 'name'>> = {
  openai: { baseUrl: 'https://api.openai.com/v1', auth: 'bearer', headers: {} },
  nanogpt: { baseUrl: 'https://nano-gpt.com/api/v1', auth: 'bearer', headers: {} },
  openrouter: { baseUrl: 'https://openrouter.ai/api/v1', auth: 'bearer', headers: {} },
};

/**
 * Every upstream a user's key may be for: `default` (the `upstream` setting), the presets
 * by name, and the config file's `upstreams`, which override both. Only the operator's
 * configuration names hosts: nothing in a request can add one.
 */
export function resolveUpstreams(config: Config): Map<string, Upstream> {
  const out = new Map<string, Upstream>();
  for (const [name, p] of Object.entries(PRESETS)) out.set(name, { name, ...p });
  out.set('default', { name: 'default', baseUrl: trimSlash(config.upstream), auth: 'bearer', headers: {} });
  for (const [name, u] of Object.entries(config.upstreams)) {
    const base = u.preset ? PRESETS[u.preset] : undefined;
    out.set(name, {
      name,
      baseUrl: trimSlash(u.baseUrl ?? base?.baseUrl ?? ''),
      auth: u.auth ?? base?.auth ?? 'bearer',
      headers: { ...base?.headers, ...u.headers },
      forwardOrganization: u.forwardOrganization,
    });
  }
  return out;
}

/** Cross-field checks that the schema cannot express; returns problems, never throws. */
export function checkUpstreams(config: Config): string[] {
  const names = resolveUpstreams(config);
  return names.has(config.defaultUpstream)
    ? []
    : [`defaultUpstream: "${config.defaultUpstream}" is not a configured upstream (known: ${[...names.keys()].join(', ')})`];
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}
