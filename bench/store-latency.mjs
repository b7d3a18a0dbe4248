// The latency a store adds to a request: soakp on SQLite + Redis and soakp on PostgreSQL +
// Redis side by side, in front of one fake upstream, each with the bench token's typical policy
// (model scope, rate limits, a token budget: the budget reservation touches the store). One
// request at a time, alternating between the two so that both see the same machine, and the
// upstream's own time measured alone for reference. Prints percentiles in ms as JSON lines.
// Run: npm run build && node bench/store-latency.mjs --database-url postgres://… [--redis-url redis://…] [--requests 3000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { onCleanup, runMain } from './children.mjs';
import { benchSchema } from './pg-schema.mjs';
import { freePort } from './proc.mjs';
import { startSoakp } from './soakp.mjs';
import { UPSTREAM_KEY, startUpstream } from './upstream.mjs';

const { values: opt } = parseArgs({ options: { 'database-url': { type: 'string' }, 'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' }, requests: { type: 'string', default: '3000' } } });
if (!opt['database-url']) throw new Error('give --database-url postgres://…');

const BODY = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 20, messages: [{ role: 'user', content: 'Say hello' }] });
const agent = new Agent({ connections: 1, pipelining: 1 });

async function once(port, token) {
  const t = performance.now();
  const res = await request(`http://127.0.0.1:${port}/v1/chat/completions`, { dispatcher: agent, method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: BODY });
  await res.body.arrayBuffer();
  if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}`);
  return performance.now() - t;
}

function summary(label, times) {
  const s = [...times].sort((a, b) => a - b);
  const at = (q) => Number(s[Math.min(s.length - 1, Math.floor(q * s.length))].toFixed(3));
  return { label, requests: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: Number((s.reduce((a, b) => a + b, 0) / s.length).toFixed(3)) };
}


async function main() {
  const upstream = await startUpstream();
  onCleanup(() => upstream.server.close());
  const dir = mkdtempSync(join(tmpdir(), 'soakp-latency-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const redis = { SOAKP_REDIS_URL: opt['redis-url'] };
  const common = { upstreamPort: upstream.port, upstreamKey: UPSTREAM_KEY, cpu: 0 };
  const sqlite = await startSoakp({ ...common, dir: join(dir, 'sqlite'), port: await freePort(), extraEnv: redis });
  const postgres = await startSoakp({ ...common, dir: join(dir, 'pg'), port: await freePort(), extraEnv: { ...redis, SOAKP_DATABASE_URL: await benchSchema(opt['database-url'], { prefix: 'soakp_latency' }) } });
  const n = Number(opt.requests);
  const times = { direct: [], sqlite: [], postgres: [] };
  for (let i = 0; i < n + 200; i++) {
    const d = await once(upstream.port, UPSTREAM_KEY);
    const a = await once(sqlite.port, sqlite.token);
    const b = await once(postgres.port, postgres.token);
    if (i < 200) continue; // warm-up: connections, JIT, caches
    times.direct.push(d);
    times.sqlite.push(a);
    times.postgres.push(b);
  }
  for (const [label, list] of Object.entries(times)) console.log(JSON.stringify(summary(label, list)));
}

await runMain(main);
