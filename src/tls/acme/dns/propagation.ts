import { Resolver } from 'node:dns/promises';
import { AcmeError } from '../errors.js';
import { findAuthoritative } from './authoritative.js';

export interface PropagationOptions {
  /**
   * The resolvers asked for the TXT record (`ip` or `ip:port`). Default: every authoritative
   * server of the record's zone, found through `discoveryResolvers` (the CA may ask any of
   * them); when they cannot be found, the discovery resolvers themselves.
   */
  readonly resolvers?: readonly string[];
  /** The resolvers that find the authoritative servers (`ip` or `ip:port`). Default: the system's. */
  readonly discoveryResolvers?: readonly string[];
  /** The port the authoritative servers are asked at (default 53): for tests and unusual setups. */
  readonly nameserverPort?: number;
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

/** Who is asked: a label for messages, a resolver, and the name to ask it for. */
interface Target {
  readonly label: string;
  readonly resolver: Resolver;
  readonly name: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolves once `fqdn` has a TXT record `value` at every server asked; AcmeError on the
 * deadline, saying where it looked and what each server answered last.
 */
export async function waitForTxt(fqdn: string, value: string, options: PropagationOptions = {}): Promise<void> {
  if (options.delayMs !== undefined) return sleep(options.delayMs);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const intervalMs = options.intervalMs ?? 2_000;
  const queryMs = Math.min(2_000, timeoutMs);
  const deadline = Date.now() + timeoutMs;
  const { where, targets } = await whereToLook(fqdn.replace(/\.$/, ''), options, queryMs);
  const last = new Map(targets.map((target) => [target.label, 'no answer yet']));
  let pending = targets;
  for (;;) {
    const answers = await Promise.all(pending.map((target) => lookUp(target, value)));
    answers.forEach((answer, i) => last.set(pending[i]!.label, answer ?? 'has it'));
    pending = pending.filter((_, i) => answers[i] !== undefined); // a server that has it keeps it
    if (pending.length === 0) return;
    const left = deadline - Date.now();
    if (left <= 0) {
      const seen = [...last].map(([label, answer]) => (label === '' ? answer : `${label}: ${answer}`)).join('; ');
      throw new AcmeError('acme_dns_propagation_timeout', `TXT record for ${fqdn} not seen within ${timeoutMs} ms ${where} (${seen})`);
    }
    await sleep(Math.min(intervalMs, left));
  }
}

async function whereToLook(name: string, options: PropagationOptions, queryMs: number): Promise<{ where: string; targets: Target[] }> {
  const target = (label: string, servers: readonly string[] | undefined, asked = name): Target => {
    const resolver = new Resolver({ timeout: queryMs, tries: 1 });
    if (servers !== undefined && servers.length > 0) resolver.setServers([...servers]);
    return { label, resolver, name: asked };
  };
  if (options.resolvers !== undefined && options.resolvers.length > 0) {
    return { where: `at ${options.resolvers.join(', ')}`, targets: [target('', options.resolvers)] };
  }
  const discovery = { nameserverPort: options.nameserverPort ?? 53, queryMs, ...(options.discoveryResolvers === undefined ? {} : { discoveryResolvers: options.discoveryResolvers }) };
  try {
    const found = await findAuthoritative(name, discovery);
    const via = found.name === name ? '' : ` (as ${found.name}, its CNAME target)`;
    return {
      where: `at every authoritative server of ${found.zone}${via}`,
      targets: found.servers.map((server) => target(`${server.host} (${server.addresses.join(', ')})`, server.addresses, found.name)),
    };
  } catch (err) {
    // Better the resolvers than nothing: they see the record too, only later.
    const fallback = options.discoveryResolvers !== undefined && options.discoveryResolvers.length > 0 ? options.discoveryResolvers.join(', ') : 'the system resolvers';
    return { where: `at ${fallback}, the authoritative servers not found (${(err as Error).message})`, targets: [target('', options.discoveryResolvers)] };
  }
}

/** Undefined when the server has the value; else what it answered. */
async function lookUp(target: Target, value: string): Promise<string | undefined> {
  try {
    // A TXT record is a list of strings of at most 255 bytes each: the value is their concatenation.
    const records = (await target.resolver.resolveTxt(target.name)).map((chunks) => chunks.join(''));
    return records.includes(value) ? undefined : `${records.length} other TXT record(s)`;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  }
}
