import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

/** A fake realtime upstream: echoes each message back, prefixed; records the upgrade's headers. */
async function startRealtimeUpstream() {
  const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (protocols) => (protocols.has('realtime') ? 'realtime' : false) });
  http.on('upgrade', (req, socket, head) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    if (req.headers.authorization === undefined) {
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: 20\r\n\r\n{"error":"no key..."}');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data, binary) => ws.send(binary ? data : `echo:${data.toString()}`, { binary })));
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    baseUrl: `http://127.0.0.1:${(http.address() as AddressInfo).port}/v1`,
    seen,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}

function open(url: string, options: { headers?: Record<string, string>; protocols?: string[]; origin?: string } = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers, ...(options.origin ? { origin: options.origin } : {}) });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode })));
    ws.once('error', reject);
  });
}

function next(ws: WebSocket): Promise<{ data: string; binary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, binary) => resolve({ data: binary ? (data as Buffer).toString('hex') : data.toString(), binary })));
}

describe('realtime WebSocket passthrough', () => {
  let upstream: Awaited<ReturnType<typeof startRealtimeUpstream>>;
  let temp: ReturnType<typeof tempDir>;
  let soakp: Soakp;
  let server: RunningServer;
  let token: string;
  const key = canaryKey();
  let wsBase: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startRealtimeUpstream();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    soakp = await Soakp.open({ logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    token = await soakp.saveKey(key, { email: 'alice@example.com' });
    wsBase = server.url.replace('http:', 'ws:');
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  it('joins the sockets with the key swapped in, text and binary frames both ways', async () => {
    const ws = await open(`${wsBase}/v1/realtime?model=gpt-realtime`, { headers: { authorization: `Bearer ${token}`, 'x-openwebui-user-email': 'x@example.com' }, protocols: ['realtime'] });
    try {
      expect(ws.protocol).toBe('realtime');
      const reply = next(ws);
      ws.send('{"type":"session.update"}');
      expect(await reply).toEqual({ data: 'echo:{"type":"session.update"}', binary: false });
      const bin = next(ws);
      ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
      expect(await bin).toEqual({ data: '000102ff', binary: true });
    } finally {
      ws.close();
    }
    const seen = upstream.seen.at(-1);
    expect(seen?.url).toBe('/v1/realtime?model=gpt-realtime');
    expect(seen?.headers.authorization).toBe(`Bearer ${key}`);
    expect(seen?.headers['x-openwebui-user-email']).toBeUndefined();
  });

  it("accepts the browser form, the key as an 'openai-insecure-api-key.' subprotocol, and never forwards it", async () => {
    const ws = await open(`${wsBase}/v1/realtime`, { protocols: ['realtime', `openai-insecure-api-key.${token}`] });
    ws.close();
    const seen = upstream.seen.at(-1);
    expect(seen?.headers.authorization).toBe(`Bearer ${key}`);
    expect(seen?.headers['sec-websocket-protocol']).toBe('realtime');
  });

  it('refuses an upgrade without a valid token, before the upstream hears of it', async () => {
    const before = upstream.seen.length;
    await expect(open(`${wsBase}/v1/realtime`)).rejects.toMatchObject({ status: 401 });
    await expect(open(`${wsBase}/v1/realtime`, { headers: { authorization: 'Bearer sk-soakp-nope' } })).rejects.toMatchObject({ status: 401 });
    await expect(open(`${wsBase}/v1/realtime`, { protocols: ['openai-insecure-api-key.sk-soakp-nope'] })).rejects.toMatchObject({ status: 401 });
    await expect(open(`${wsBase}/v1/chat/completions`, { headers: { authorization: `Bearer ${token}` } })).rejects.toMatchObject({ status: 404 });
    expect(upstream.seen.length).toBe(before);
  });

  it('applies scopes to sessions: a model outside the token’s scope is refused with 403', async () => {
    const scoped = json<{ token: string }>(await runCli(['token', 'issue', 'alice@example.com', '--models', 'gpt-realtime*', '--json'], env)).token;
    const before = upstream.seen.length;
    await expect(open(`${wsBase}/v1/realtime?model=o3-voice`, { headers: { authorization: `Bearer ${scoped}` } })).rejects.toMatchObject({ status: 403 });
    await expect(open(`${wsBase}/v1/realtime`, { headers: { authorization: `Bearer ${scoped}` } })).rejects.toMatchObject({ status: 403 });
    expect(upstream.seen.length).toBe(before);
    const ws = await open(`${wsBase}/v1/realtime?model=gpt-realtime-mini`, { headers: { authorization: `Bearer ${scoped}` } });
    ws.close();
  });

  it('takes origin-bound and ephemeral tokens from a page: the subprotocol token, the same origin check on the upgrade', async () => {
    const app = 'https://voice.example.com';
    const bound = json<{ token: string }>(await runCli(['token', 'issue', 'alice@example.com', '--origins', app, '--json'], env)).token;
    const minting = json<{ token: string }>(await runCli(['token', 'issue', 'alice@example.com', '--mint', '--origins', app, '--json'], env)).token;
    const res = await fetch(`${server.url}/api/tokens/ephemeral`, { method: 'POST', headers: { authorization: `Bearer ${minting}` } });
    const ephemeral = ((await res.json()) as { token: string }).token;
    for (const t of [bound, ephemeral]) {
      const before = upstream.seen.length;
      const protocols = ['realtime', `openai-insecure-api-key.${t}`];
      await expect(open(`${wsBase}/v1/realtime`, { protocols, origin: 'https://evil.example.com' })).rejects.toMatchObject({ status: 403 });
      await expect(open(`${wsBase}/v1/realtime`, { protocols })).rejects.toMatchObject({ status: 403 });
      expect(upstream.seen.length).toBe(before);
      const ws = await open(`${wsBase}/v1/realtime`, { protocols, origin: app });
      expect(ws.protocol).toBe('realtime');
      ws.close();
      expect(upstream.seen.at(-1)?.headers.authorization).toBe(`Bearer ${key}`);
    }
    await expect(open(`${wsBase}/v1/realtime`, { protocols: ['realtime', `openai-insecure-api-key.${minting}`], origin: app })).rejects.toMatchObject({ status: 403 });
  });
});

describe('realtime sessions at shutdown', () => {
  it('are cut once the shutdown grace is over, so that the server stops', async () => {
    const upstream = await startRealtimeUpstream();
    const temp = tempDir();
    const env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_SHUTDOWN_GRACE: '1s' };
    const soakp = await Soakp.open({ logLevel: 'silent', env });
    try {
      const server = await soakp.listen({ host: '127.0.0.1', port: 0 });
      const token = await soakp.saveKey(canaryKey(), { email: 'rt@example.com' });
      const ws = await open(`${server.url.replace('http:', 'ws:')}/v1/realtime`, { headers: { authorization: `Bearer ${token}` } });
      const closed = new Promise<number>((resolve) => ws.once('close', resolve));
      const stopping = Date.now();
      await server.close(); // without the grace, the open session would hold this for good
      expect(Date.now() - stopping).toBeGreaterThanOrEqual(900);
      expect(await closed).toBe(1006); // cut, not closed by either end
    } finally {
      await soakp.close();
      await upstream.close();
      temp.cleanup();
    }
  }, 20_000);
});
