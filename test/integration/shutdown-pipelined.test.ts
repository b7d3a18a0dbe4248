import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Soakp } from '../../src/library.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

describe('a connection in use when shutdown begins', () => {
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let temp: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    soakp = await Soakp.open({ dataDir: temp.dir, upstreamUrl: upstream.baseUrl, logLevel: 'silent', env: { SOAKP_MASTER_KEY: randomMasterKey() } });
  });
  afterAll(async () => {
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  it('finishes the one in flight with Connection: close, and sends nothing later on that connection upstream', async () => {
    const token = await soakp.saveKey(canaryKey(), { email: 'p@example.com' });
    const server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    const { port } = new URL(server.url);
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'slow' }] });
    const request = `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    upstream.hold();
    const socket = connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(request);
    await upstream.received(1); // the first is in flight, held by the upstream
    const closed = server.close();
    // The next request on the same (busy, so still open) connection comes after shutdown began.
    socket.write(request);
    upstream.release();
    await closed;
    await ended;
    const text = Buffer.concat(chunks).toString();
    // The answer in flight tells the client the connection ends (RFC 9112 §9.6: what it sent
    // after must be retried elsewhere); the later request never reaches the upstream.
    const answers = text.split(/(?=HTTP\/1\.1 )/);
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatch(/^HTTP\/1\.1 200 /);
    expect(answers[0]?.toLowerCase()).toContain('connection: close');
    expect(upstream.requests).toHaveLength(1);
  });
});
