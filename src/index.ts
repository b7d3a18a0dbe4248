/**
 * The library API: `saveKey`, `request` and `createServer`, as in SOAKP's usage example
 * (but async). The functions share one open instance per set of options; `Soakp.open`
 * gives an instance of your own, and `close()` releases the shared ones.
 */
import { Soakp, type SoakpOptions } from './library.js';

export { Soakp, UpstreamError, type SoakpOptions } from './library.js';
export { SoakpError, type ErrorCode } from './shared/index.js';

const shared = new Map<string, Promise<Soakp>>();

function instance(options: SoakpOptions = {}): Promise<Soakp> {
  const { env, ...rest } = options;
  const id = JSON.stringify(rest) + (env ? JSON.stringify(env) : '');
  let pending = shared.get(id);
  if (!pending) {
    pending = Soakp.open(options);
    pending.catch(() => shared.delete(id));
    shared.set(id, pending);
  }
  return pending;
}

export async function saveKey(key: string, options: SoakpOptions & { email?: string; upstream?: string } = {}): Promise<string> {
  const { email, upstream, ...open } = options;
  return (await instance(open)).saveKey(key, { email, upstream });
}

export async function request(token: string, endpoint: string, body?: unknown, options: SoakpOptions & { method?: string } = {}): Promise<unknown> {
  const { method, ...open } = options;
  return (await instance(open)).request(token, endpoint, body, { method });
}

export interface ServerHandle {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the proxy (default 127.0.0.1:3000; `port: 0` picks a free port). */
export async function createServer(options: SoakpOptions & { host?: string; port?: number } = {}): Promise<ServerHandle> {
  const soakp = await Soakp.open(options);
  try {
    const server = await soakp.listen({ host: options.host, port: options.port === undefined ? undefined : Number(options.port) });
    return { url: server.url, close: async () => { await server.close(); await soakp.close(); } };
  } catch (err) {
    await soakp.close();
    throw err;
  }
}

/** Closes the instances that saveKey and request opened. */
export async function close(): Promise<void> {
  const all = [...shared.values()];
  shared.clear();
  await Promise.all(all.map(async (p) => (await p).close()));
}
