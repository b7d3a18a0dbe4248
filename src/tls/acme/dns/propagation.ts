import { Resolver } from 'node:dns/promises';
import { AcmeError } from '../errors.js';

export interface PropagationOptions {
  /**
   * The resolvers asked for the TXT record (`ip` or `ip:port`): best the zone's authoritative
   * servers, which see a new record first. Default: the system's resolvers.
   */
  readonly resolvers?: readonly string[];
  /** Give up after this long (default 120 s). */
  readonly timeoutMs?: number;
  /** Between two lookups (default 2 s). */
  readonly intervalMs?: number;
  /**
   * Wait this long instead of looking (for a provider whose servers cannot be asked): a lookup
   * of a name that does not exist yet can be cached as negative by the resolvers on the way.
   */
  readonly delayMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `fqdn` has a TXT record `value` at the configured resolvers; AcmeError on the deadline. */
export async function waitForTxt(fqdn: string, value: string, options: PropagationOptions = {}): Promise<void> {
  if (options.delayMs !== undefined) return sleep(options.delayMs);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const intervalMs = options.intervalMs ?? 2_000;
  const resolver = new Resolver({ timeout: Math.min(2_000, timeoutMs), tries: 1 });
  if (options.resolvers !== undefined && options.resolvers.length > 0) resolver.setServers([...options.resolvers]);
  const name = fqdn.replace(/\.$/, '');
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      // A TXT record is a list of strings of at most 255 bytes each: the value is their concatenation.
      const records = (await resolver.resolveTxt(name)).map((chunks) => chunks.join(''));
      if (records.includes(value)) return;
      last = `${records.length} other TXT record(s)`;
    } catch (err) {
      last = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new AcmeError('acme_dns_propagation_timeout', `TXT record for ${fqdn} not seen within ${timeoutMs} ms (${last})`);
    }
    await sleep(Math.min(intervalMs, left));
  }
}
