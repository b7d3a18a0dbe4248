import { existsSync, statSync } from 'node:fs';
import Database from 'better-sqlite3-multiple-ciphers';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, Gate, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startServe } from '../helpers/serve.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

describe('soakp serve shuts down gracefully on SIGTERM', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
    temp?.cleanup();
  });

  it('finishes the in-flight request, refuses nothing it accepted, exits 0 and leaves a clean database', async () => {
    const env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    const { token } = json<{ token: string }>(await runCli(['user', 'add', 'a@example.com', '--key-stdin', '--json'], env, canaryKey()));
    const server = await startServe(env);
    // A failed authentication: a security event, aggregated in memory until flushed.
    expect((await fetch(`${server.url}/v1/models`, { headers: { authorization: 'Bearer sk-soakp-wrong' } })).status).toBe(401);
    upstream.hold();
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'slow' }] });
    const inFlight = fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
    await upstream.received(1); // the request is inside the proxy, waiting on the upstream
    const exit = server.stop();
    // The process must still be alive and waiting for the request: it has not exited yet.
    expect(server.child.exitCode).toBeNull();
    upstream.release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    const answer = await res.text();
    expect((JSON.parse(answer) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content).toBe('echo: slow');
    expect(await exit).toBe(0);
    expect(server.output()).toContain('shutting down');
    // Both access lines were written, the last one (batched) while the server stopped.
    type Line = { path: string; status: number; bytesIn: number; bytesOut: number };
    const access = server.output().split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l) as Line);
    expect(access.map((l) => [l.path, l.status])).toEqual([['/v1/models', 401], ['/v1/chat/completions', 200]]);
    // Body bytes each way: the refusal's envelope, the request's JSON and the answer as the client got it.
    expect(access[0]?.bytesIn).toBe(0);
    expect(access[0]?.bytesOut).toBeGreaterThan(50);
    expect(access[1]).toMatchObject({ bytesIn: Buffer.byteLength(body), bytesOut: Buffer.byteLength(answer) });
    // The database was closed cleanly: the WAL was checkpointed into the main file.
    const wal = join(temp.dir, 'soakp.db-wal');
    expect(!existsSync(wal) || statSync(wal).size === 0).toBe(true);
    // Nothing queued was lost: the in-flight request's ledger row and the security event were flushed.
    const db = new Database(join(temp.dir, 'soakp.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT status, model FROM usage').all()).toEqual([{ status: 200, model: 'gpt-4o-mini' }]);
      const events = db.prepare("SELECT action, details FROM audit_log WHERE action LIKE 'security.%'").all() as Array<{ action: string; details: string }>;
      expect(events.map((e) => e.action)).toEqual(['security.auth_failed']);
      expect(JSON.parse(events[0]?.details ?? '{}').count).toBe(1);
    } finally {
      db.close();
    }
  });
  it('cuts a stream still open when the shutdown grace is over, records what it used, and exits 0', async () => {
    const dir = join(temp.dir, 'grace');
    const env = { SOAKP_DATA_DIR: dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    const { token } = json<{ token: string }>(await runCli(['user', 'add', 'g@example.com', '--key-stdin', '--json'], env, canaryKey()));
    const server = await startServe(env, ['--shutdown-grace', '1s']);
    const gate = new Gate(); // never opened: the upstream holds the stream after its first event
    upstream.controls.sseGate = gate;
    try {
      const res = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'stream' }] }),
      });
      expect(res.status).toBe(200);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      expect((await reader.read()).done).toBe(false); // the first event arrived: the stream is in flight
      const stopping = Date.now();
      const code = await server.stop();
      // Without the grace the process would wait for the stream for as long as the upstream holds it.
      expect(code).toBe(0);
      expect(Date.now() - stopping).toBeGreaterThanOrEqual(900);
      expect(server.output()).toContain('shutdown grace over');
      await expect((async () => { while (!(await reader.read()).done); })()).rejects.toThrow(); // cut, not ended
    } finally {
      upstream.controls.sseGate = undefined;
      gate.open();
    }
    const db = new Database(join(dir, 'soakp.db'), { readonly: true });
    try {
      // The cut stream's ledger row was written before the database closed.
      expect(db.prepare('SELECT model FROM usage').all()).toEqual([{ model: 'gpt-4o-mini' }]);
    } finally {
      db.close();
    }
  }, 30_000);
});
