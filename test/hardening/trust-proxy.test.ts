import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { openRuntime } from '../../src/main.js';
import { createLogger } from '../../src/shared/logger.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { type RawConnection, openConnection } from '../helpers/sockets.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const WRONG = { authorization: 'Bearer sk-soakp-wrong' };

// 127.0.0.1 plays a reverse proxy (trusted); 127.0.0.2 a client reaching soakp directly.
describe('trustProxy: the client address comes from forwarding headers only when a trusted proxy sent them', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let token: string;
  const env = { SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_TRUST_PROXY: '127.0.0.1/32, 10.0.0.0/8' };
  const connections: RawConnection[] = [];
  const from = (address: string): RawConnection => {
    const c = openConnection(server.url, address);
    connections.push(c);
    return c;
  };

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    soakp = await Soakp.open({ dataDir: temp.dir, upstreamUrl: upstream.baseUrl, logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    token = await soakp.saveKey(canaryKey(), { email: 'alice@example.com' });
  });

  afterAll(async () => {
    for (const c of connections) c.socket.destroy();
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  it('never forwards Forwarded, X-Forwarded-* or X-Real-IP upstream, even from a trusted proxy', async () => {
    const before = upstream.requests.length;
    const headers = {
      authorization: `Bearer ${token}`,
      forwarded: 'for=203.0.113.9;proto=https;host=soakp.example',
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'soakp.example',
      'x-real-ip': '203.0.113.9',
    };
    expect(await from('127.0.0.1').get('/v1/models', headers)).toBe(200);
    const seen = upstream.requests[before]?.headers ?? {};
    for (const name of ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip']) expect(seen[name], name).toBeUndefined();
  });

  it('records refused requests under the rightmost untrusted hop from a trusted proxy, and the socket from anyone else', async () => {
    const proxy = from('127.0.0.1');
    // The client wrote 6.6.6.6 itself; the proxy appended the address it saw.
    expect(await proxy.get('/v1/models', { ...WRONG, 'x-forwarded-for': '6.6.6.6, 203.0.113.9' })).toBe(401);
    // Two proxies: 10.1.2.3 is trusted too, so the hop before it is the client.
    expect(await proxy.get('/v1/models', { ...WRONG, 'x-forwarded-for': '198.51.100.20, 10.1.2.3' })).toBe(401);
    expect(await proxy.get('/v1/models', { ...WRONG, forwarded: 'for="[2001:db8::5]:443";proto=https' })).toBe(401);
    // The admin API's refusals are counted under the same address.
    expect(await proxy.get('/api/keys', { ...WRONG, 'x-forwarded-for': '203.0.113.30' }, 'POST')).toBe(401);
    // From a peer that is not a trusted proxy the headers count for nothing.
    expect(await from('127.0.0.2').get('/v1/models', { ...WRONG, 'x-forwarded-for': '203.0.113.77', forwarded: 'for=203.0.113.78' })).toBe(401);

    await server.close();
    await soakp.close(); // its owner's close flushes the security events to the audit log
    const rt = await openRuntime({ flags: { dataDir: temp.dir }, env, logger: createLogger('silent') });
    try {
      const events = (await rt.store.audit.list()).filter((e) => e.action === 'security.auth_failed');
      expect(events.map((e) => [e.target, e.source]).sort()).toEqual(
        [
          ['admin-api', '203.0.113.30'],
          ['ip:127.0.0.2', '127.0.0.2'],
          ['ip:198.51.100.20', '198.51.100.20'],
          ['ip:2001:db8::5', '2001:db8::5'],
          ['ip:203.0.113.9', '203.0.113.9'],
        ].sort(),
      );
    } finally {
      await rt.close();
    }
  });
});
