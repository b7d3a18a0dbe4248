import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/schema.js';
import type { Config } from '../../src/config/schema.js';
import { type RunningServer, startServer } from '../../src/http/server.js';
import { type Runtime, openRuntime, servingServices } from '../../src/main.js';
import { createLogger } from '../../src/shared/logger.js';
import { type RawConnection, openConnection } from '../helpers/sockets.js';
import { randomMasterKey, tempDir } from '../helpers/temp.js';

// Settings small enough for a test: the defaults are 10 s, 5 s, 10,000 and 256.
describe('connections that send nothing are closed, and connections are capped', () => {
  let temp: ReturnType<typeof tempDir>;
  const runtimes: Runtime[] = [];
  const servers: RunningServer[] = [];
  const connections: RawConnection[] = [];
  const masterKey = randomMasterKey();

  /** The server's warnings, as JSON lines. */
  const warnings: string[] = [];
  const logger = createLogger('warn', { stream: { write: (line: string) => void warnings.push(line) } });

  async function serve(limits: Partial<Config['limits']>, env: NodeJS.ProcessEnv = {}): Promise<string> {
    const rt = await openRuntime({ flags: { dataDir: temp.dir }, env: { SOAKP_MASTER_KEY: masterKey, ...env }, logger });
    runtimes.push(rt);
    const services = await servingServices({ ...rt, config: { ...rt.config, limits: { ...rt.config.limits, ...limits } } });
    const server = await startServer(services, { host: '127.0.0.1', port: 0 });
    servers.push({ ...server, close: async () => { await server.close(); await services.close(); } });
    return server.url;
  }
  const open = (url: string, from?: string): RawConnection => {
    const c = openConnection(url, from);
    connections.push(c);
    return c;
  };

  beforeAll(() => {
    temp = tempDir();
  });
  afterAll(async () => {
    for (const c of connections) c.socket.destroy();
    for (const s of servers) await s.close();
    for (const rt of runtimes) await rt.close();
    temp?.cleanup();
  });

  it('has the documented defaults', () => {
    expect(parseConfig({}).limits).toMatchObject({ headersTimeout: 10_000, keepAliveTimeout: 5_000, maxConnections: 10_000, maxConnectionsPerAddress: 256 });
  });

  it('closes a connection that sends no request head, and still answers a valid request', async () => {
    const url = await serve({ headersTimeout: 300 });
    const silent = open(url);
    const closedAfter = await silent.closedWithin(5_000);
    expect(closedAfter).toBeDefined();
    expect(closedAfter).toBeGreaterThanOrEqual(250);
    // Node answers 408 or nothing: never an answer to a request that was not made.
    expect(silent.received()).toMatch(/^(HTTP\/1\.1 408 [^]*)?$/);
    expect(await open(url).get('/healthz')).toBe(200);
  });

  it('answers 408 to a connection that sends only part of its head in time', async () => {
    const url = await serve({ headersTimeout: 300 });
    const slow = open(url);
    await slow.opened;
    slow.socket.write('GET /healthz HTTP/1.1\r\nHo');
    expect(await slow.closedWithin(5_000)).toBeDefined();
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a connection left idle between requests', async () => {
    const url = await serve({ keepAliveTimeout: 300 });
    const idle = open(url);
    expect(await idle.get('/healthz')).toBe(200);
    expect(await idle.closedWithin(5_000)).toBeDefined();
  });

  it('closes connections over the per-address and total caps at once, unanswered; open ones keep working', async () => {
    const url = await serve({ maxConnections: 5, maxConnectionsPerAddress: 2 });
    const a = open(url, '127.0.0.1');
    const b = open(url, '127.0.0.1');
    for (const c of [a, b]) expect(await c.get('/healthz')).toBe(200);
    const third = open(url, '127.0.0.1');
    expect(await third.closedWithin(3_000)).toBeDefined();
    expect(third.received()).toBe('');
    // Said once in the log (at most every 10 s), with a hint for a proxy that is not listed.
    const refusal = warnings.map((l) => JSON.parse(l) as { msg: string; refused?: unknown; address?: string }).filter((l) => l.refused);
    expect(refusal).toEqual([expect.objectContaining({ refused: { maxConnections: 0, maxConnectionsPerAddress: 1 }, address: '127.0.0.1' })]);
    expect(refusal[0]?.msg).toMatch(/list it in trustProxy/);
    expect(await a.get('/healthz')).toBe(200);
    // Five in all, from three addresses; a sixth, from a fourth address, is over the total.
    for (const from of ['127.0.0.2', '127.0.0.2', '127.0.0.3']) expect(await open(url, from).get('/healthz')).toBe(200);
    const sixth = open(url, '127.0.0.4');
    expect(await sixth.closedWithin(3_000)).toBeDefined();
    expect(sixth.received()).toBe('');
    expect(await b.get('/healthz')).toBe(200);
  });

  it('does not cap a trusted proxy per address: its connections carry many clients', async () => {
    const url = await serve({ maxConnections: 10, maxConnectionsPerAddress: 2 }, { SOAKP_TRUST_PROXY: '127.0.0.1/32' });
    const fromProxy = [1, 2, 3, 4].map(() => open(url, '127.0.0.1'));
    for (const c of fromProxy) expect(await c.get('/healthz')).toBe(200);
    for (const c of [open(url, '127.0.0.5'), open(url, '127.0.0.5')]) expect(await c.get('/healthz')).toBe(200);
    const over = open(url, '127.0.0.5');
    expect(await over.closedWithin(3_000)).toBeDefined();
    expect(over.received()).toBe('');
  });
});
