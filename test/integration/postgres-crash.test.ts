import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, Gate, startFakeUpstream } from '../helpers/fake-upstream.js';
import { freshSchema, postgresAvailable } from '../helpers/postgres.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';
import { REDIS_URL, redisAvailable } from '../helpers/services.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const available = (await postgresAvailable('an instance killed on PostgreSQL')) && (await redisAvailable('an instance killed on PostgreSQL'));
const TIMEOUT_MS = 2_000; // budgets.instanceTimeout below: instances beat every 500 ms

/** Polls `probe` until it returns a value other than undefined; fails after `ms`. No sleeping as synchronisation: each try is a real check. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Two `soakp serve` processes on one PostgreSQL schema and one Redis; one is killed with SIGKILL mid-stream. */
describe.runIf(available)('an instance killed mid-stream on PostgreSQL and Redis', () => {
  const temp = tempDir();
  let upstream: FakeUpstream;
  let schema: Awaited<ReturnType<typeof freshSchema>>;
  let db: pg.Client;
  let env: NodeJS.ProcessEnv;
  const servers: ServeProcess[] = [];

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    schema = await freshSchema();
    const config = join(temp.dir, 'soakp.yaml');
    writeFileSync(config, 'budgets:\n  instanceTimeout: 2s\n');
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_DATABASE_URL: schema.url, SOAKP_REDIS_URL: REDIS_URL, SOAKP_CONFIG: config, SOAKP_LOG_LEVEL: 'info' };
    json(await runCli(['user', 'add', 'crash@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    // Both kept even when one fails to start, so that afterAll stops the other.
    const started = await Promise.allSettled([startServe(env), startServe(env)]);
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    db = new pg.Client({ connectionString: schema.url });
    await db.connect();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => (s.child.exitCode === null && s.child.signalCode === null ? s.stop() : undefined)));
    await db?.end();
    await upstream?.close();
    await schema?.drop();
    temp.cleanup();
  });

  const counter = async (scope: string) => {
    const { rows } = await db.query<{ spent: number; reserved: number }>('select spent_tokens::int as spent, reserved_tokens::int as reserved from budget_counters where scope = $1', [scope]);
    return rows[0] ?? { spent: 0, reserved: 0 };
  };
  const holds = async (instance: string) => (await db.query<{ tokens: number }>('select tokens::int as tokens from budget_holds where instance = $1', [instance])).rows;
  const chat = (server: ServeProcess, token: string, body: Record<string, unknown>) =>
    fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], ...body }) });

  it('keeps serving on the live instance, which releases the dead one\'s reservation once it has been silent for the timeout', async () => {
    const [a, b] = servers as [ServeProcess, ServeProcess];
    const { token, tokenId } = json<{ token: string; tokenId: string }>(await runCli(['token', 'issue', 'crash@example.com', '--token-budget', '1000', '--budget-period', 'total', '--json'], env));
    const scope = `token:${tokenId}`;
    // A stream on A, held after its first event: its worst case (600 + the prompt's bound) is reserved.
    const gate = new Gate();
    upstream.controls.sseGate = gate;
    const stream = await chat(a, token, { stream: true, max_tokens: 600 });
    expect(stream.status).toBe(200);
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    await reader.read(); // the first event came through
    const held = (await counter(scope)).reserved;
    expect(held).toBeGreaterThan(600);
    // A's settlement batches record what it holds (within a batch, 200 ms): the hold is what a crash can leave otherwise.
    const instanceA = await until('A registered', 5_000, async () => (await db.query<{ id: string }>('select id from instances where id like $1', [`%:${a.child.pid}:%`])).rows[0]?.id);
    await until('A\'s hold written', 5_000, async () => ((await holds(instanceA))[0]?.tokens === held ? true : undefined));
    const refused = await chat(b, token, { max_tokens: 600 });
    expect(refused.status).toBe(429); // the budget cannot take a second such request while A holds one

    const exited = new Promise((resolve) => a.child.once('exit', resolve));
    a.child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    await reader.read().catch(() => undefined); // the client's connection is gone with A
    upstream.controls.sseGate = undefined;
    gate.open();

    // B serves on at once: a request that fits beside the stale reservation.
    const small = await chat(b, token, { max_tokens: 10 });
    expect(small.status).toBe(200);
    const used = ((await small.json()) as { usage: { total_tokens: number } }).usage.total_tokens;
    // Within the timeout and two of B's beats, B releases what A held, and says so.
    const released = await b.waitFor(new RegExp(`"instance":"${instanceA.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"[^\n]*released the budget reservations of an instance presumed dead`), 5 * TIMEOUT_MS);
    const after = Date.now() - killedAt;
    expect(after).toBeGreaterThanOrEqual(TIMEOUT_MS / 2); // never before A was silent for most of the timeout
    expect(after).toBeLessThan(TIMEOUT_MS * 1.5 + 1_500);
    expect(released[0]).toContain(`"tokens":${held}`);
    expect(await holds(instanceA)).toEqual([]);
    // Nothing of A's is left reserved; its stream's usage is what a crash loses (it never settled).
    const settled = await until('B settled', 5_000, async () => {
      const c = await counter(scope);
      return c.reserved === 0 && c.spent === used ? c : undefined;
    });
    expect(settled).toEqual({ spent: used, reserved: 0 });
    expect((await chat(b, token, { max_tokens: 600 })).status).toBe(200); // the budget is usable again
  }, 60_000);
});
