import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageInternals } from '../../test/helpers/package-internals.js';

// undici-core.ts loads undici's private files, and relay.ts implements the core's own handler
// callbacks: these checks fail, naming the version, as soon as an install changes what they rely on.
const undici = packageInternals('undici', 'src/proxy/undici-core.ts');
const FILES = ['undici/lib/dispatcher/pool.js', 'undici/lib/core/errors.js', 'undici/lib/core/util.js'];
const core = () => import('./undici-core.js');

let server: Server;
let origin: string;
beforeAll(async () => {
  server = createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Probe': 'yes' }).end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('undici internals (undici-core.ts)', () => {
  it('package.json pins the exact version installed', () => {
    expect(undici.wanted, undici.says(`package.json asks for ${undici.wanted}, not this exact version`)).toBe(undici.version);
  });

  it('still has the private files loaded', () => {
    for (const file of FILES) expect(undici.resolves(file), undici.says(`${file} is gone`)).toBe(true);
  });

  it('has the error classes the proxy tells apart', async () => {
    const { errors } = await core();
    for (const name of ['RequestAbortedError', 'BodyTimeoutError', 'ConnectTimeoutError', 'HeadersTimeoutError'] as const) {
      expect(typeof errors[name], undici.says(`lib/core/errors.js has no ${name}`)).toBe('function');
      expect(new errors[name]('x'), undici.says(`${name} is no longer an Error`)).toBeInstanceOf(Error);
    }
  });

  it('names raw headers from its table, lower-cased', async () => {
    const { headerName } = await core();
    expect(typeof headerName, undici.says('lib/core/util.js has no headerNameToString')).toBe('function');
    expect(headerName(Buffer.from('Content-Type')), undici.says('headerNameToString no longer lower-cases a known name')).toBe('content-type');
    expect(headerName(Buffer.from('X-Probe')), undici.says('headerNameToString no longer lower-cases an unknown name')).toBe('x-probe');
  });

  it("answers a dispatch on a Pool through the core's callbacks, with raw headers", async () => {
    const { Pool } = await core();
    const pool = new Pool(origin, { connectTimeout: 5_000 });
    try {
      const seen: { raw?: unknown[]; body: string; connected: boolean } = { body: '', connected: false };
      await new Promise<void>((resolve, reject) => {
        const handler = {
          onConnect: () => void (seen.connected = true),
          onHeaders: (_status: number, raw: unknown[]) => ((seen.raw = raw), true),
          onData: (chunk: Buffer) => ((seen.body += chunk.toString()), true),
          onComplete: () => resolve(),
          onError: reject,
        };
        pool.dispatch({ path: '/', method: 'GET' }, handler as unknown as Dispatcher.DispatchHandler);
      });
      expect(seen.connected, undici.says('dispatch no longer calls onConnect')).toBe(true);
      expect(seen.raw?.[0], undici.says('onHeaders no longer gets raw header Buffers')).toBeInstanceOf(Buffer);
      expect(seen.body, undici.says('dispatch no longer calls onData')).toBe('hello');
    } finally {
      await pool.close();
    }
  });
});
