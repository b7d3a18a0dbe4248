import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../store/index.js';
import { openSqliteStore } from '../../store/sqlite/open.js';
import { Http01Solver } from './http01.js';

describe('Http01Solver shared through the store', () => {
  let dir: string;
  let stores: Store[];
  let servers: Server[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'soakp-http01-'));
    stores = [];
    servers = [];
  });
  afterEach(async () => {
    for (const s of servers) s.close();
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An instance: its own store connection (as a second process has) and plain-HTTP listener. */
  async function instance(): Promise<{ solver: Http01Solver; get: (path: string, method?: string) => Promise<[number, string]> }> {
    const store = await openSqliteStore({ file: join(dir, 'soakp.db') });
    stores.push(store);
    const solver = new Http01Solver(store.certificates);
    const server = createServer((req, res) => void (solver.handle(req, res) || res.writeHead(418).end()));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      solver,
      get: async (path, method = 'GET') => {
        const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
        return [res.status, await res.text()];
      },
    };
  }

  it('answers a challenge added by another instance, until it is removed', async () => {
    const ordering = await instance();
    const other = await instance();
    await ordering.solver.add('tok_en-1', 'tok_en-1.thumbprint');
    expect(await other.get('/.well-known/acme-challenge/tok_en-1')).toEqual([200, 'tok_en-1.thumbprint']);
    expect(await other.get('/.well-known/acme-challenge/tok_en-1', 'POST')).toEqual([404, 'Not Found\n']);
    expect(await other.get('/.well-known/acme-challenge/unknown')).toEqual([404, 'Not Found\n']);
    expect(await other.get('/.well-known/acme-challenge/bad%20token')).toEqual([404, 'Not Found\n']);
    expect((await other.get('/elsewhere'))[0]).toBe(418);
    expect(other.solver.size).toBe(0);
    await ordering.solver.remove('tok_en-1');
    expect(await other.get('/.well-known/acme-challenge/tok_en-1')).toEqual([404, 'Not Found\n']);
    expect(await ordering.get('/.well-known/acme-challenge/tok_en-1')).toEqual([404, 'Not Found\n']);
  });
});
