// soakp with a large store: 100,000 users, 200,000 tokens and a 5-million-row usage ledger,
// on SQLite (default) or PostgreSQL (--database-url). Prints, as JSON lines: how long filling
// took; `soakp usage` for the last 30 days by user, day and model (a CLI process, start-up
// included); `soakp serve`'s start-up time and resident memory; and the time of a first
// request by each of 1,000 tokens never seen (a lookup by hash in the big table) against the
// same on a store of 1,000 tokens.
// Run: npm run build && node bench/scale.mjs [--users 100000] [--rows 5000000] [--database-url postgres://…] [--keep]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { firstJsonLine, onCleanup, runMain, track } from './children.mjs';
import { benchSchema } from './pg-schema.mjs';
import { freePort } from './proc.mjs';
import { UPSTREAM_KEY } from './upstream.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const { values: opt } = parseArgs({ options: { users: { type: 'string', default: '100000' }, rows: { type: 'string', default: '5000000' }, 'database-url': { type: 'string' }, keep: { type: 'boolean', default: false } } });
const { openRuntime } = await import(join(ROOT, 'dist', 'main.js'));
const { mintToken, displayPrefix } = await import(join(ROOT, 'dist', 'crypto', 'index.js'));

/** Fills a store: users with a key and two tokens each, then `rows` usage rows over the last year. Returns 1,000 tokens never used. */
async function fill(env, users, rows) {
  const rt = await openRuntime({ env, logger: (await import(join(ROOT, 'dist', 'shared', 'index.js'))).createLogger('warn') });
  const fresh = [];
  const ids = [];
  try {
    for (let from = 0; from < users; from += 1000) {
      await rt.store.transaction(async (tx) => {
        for (let i = from; i < Math.min(users, from + 1000); i++) {
          const id = `usr_scale${i}`;
          await tx.users.create({ id, email: `u${i}@scale.example`, status: 'active', createdAt: Date.now() });
          await tx.keys.put({ id: `key_scale${i}`, userId: id, upstream: 'default', hint: 'sk-…0000', sealed: rt.vault.sealUpstreamKey({ id: `key_scale${i}`, userId: id, upstream: 'default' }, UPSTREAM_KEY), updatedAt: Date.now() });
          for (let k = 0; k < 2; k++) {
            const token = mintToken();
            const tokenId = `tok_scale${i}_${k}`;
            ids.push([id, tokenId]);
            if (fresh.length < 1000 && i % Math.max(1, Math.floor(users / 1000)) === 0 && k === 0) fresh.push(token);
            await tx.tokens.insert({ id: tokenId, kind: 'personal', userId: id, name: 'scale', displayPrefix: displayPrefix(token), hash: rt.vault.hashToken(token), createdAt: Date.now(), expiresAt: null, lastUsedAt: null, revokedAt: null, options: { upstream: 'default' } });
          }
        }
      });
    }
    const now = Date.now();
    const models = ['gpt-4o-mini', 'gpt-4o', 'o3-mini', 'text-embedding-3-small'];
    for (let from = 0; from < rows; from += 5000) {
      const batch = [];
      for (let j = from; j < Math.min(rows, from + 5000); j++) {
        const [userId, tokenId] = ids[j % ids.length];
        batch.push({ at: now - (j % 365) * 86_400_000 - (j % 86_400_000), userId, tokenId, upstream: 'default', model: models[j % 4], endpoint: 'chat', status: 200, promptTokens: 14, completionTokens: 20, totalTokens: 34, costMicros: 15, durationMs: 300, bytesIn: 200, bytesOut: 600, source: 'reported' });
      }
      await rt.store.usage.insertMany(batch);
    }
  } finally {
    await rt.close();
  }
  // A ledger filled in minutes, not over a year: PostgreSQL's autovacuum has not yet analysed
  // it, nor marked its pages all-visible (needed for index-only scans). Done here, as autovacuum
  // would have done by the time a real ledger held 5 million rows.
  if (opt['database-url']) await vacuum(env.SOAKP_DATABASE_URL);
  return fresh;
}

const timed = (f) => {
  const t = performance.now();
  f();
  return Math.round(performance.now() - t);
};

/** Starts `soakp serve`; resolves with its start-up time (to a 200 from /healthz), its RSS, and a way to stop it. */
async function serve(env, upstreamPort) {
  const port = await freePort();
  const started = performance.now();
  const child = track(spawn(process.execPath, [join(ROOT, 'bin', 'soakp.js'), 'serve', '--port', String(port), '--upstream', `http://127.0.0.1:${upstreamPort}/v1`, '--log-level', 'warn'], { env, stdio: 'ignore' }));
  for (;;) {
    if (child.exitCode !== null) throw new Error('soakp serve exited');
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const startMs = Math.round(performance.now() - started);
  // Anonymous memory (heap, buffers) and file-backed (mapped libraries and files) apart.
  const rssMb = () => {
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { total: Math.round(kb('VmRSS') / 1024), anon: Math.round(kb('RssAnon') / 1024), file: Math.round(kb('RssFile') / 1024) };
  };
  return { port, startMs, rssMb, stop: () => child.kill('SIGTERM') };
}

/** Median time (ms) of a first request by each token, one at a time. */
async function firstUse(port, tokens) {
  const times = [];
  for (const token of tokens) {
    const t = performance.now();
    const res = await fetch(`http://127.0.0.1:${port}/v1/embeddings`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"model":"text-embedding-3-small","input":"hi"}' });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`first use answered ${res.status}`);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return Number(times[Math.floor(times.length / 2)].toFixed(2));
}

async function run(label, users, rows, upstreamPort) {
  const dir = mkdtempSync(join(tmpdir(), 'soakp-scale-'));
  if (opt.keep) console.log(JSON.stringify({ label, kept: dir }));
  else onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, SOAKP_DATA_DIR: join(dir, 'data'), SOAKP_MASTER_KEY: randomBytes(32).toString('base64') };
  if (opt['database-url']) env.SOAKP_DATABASE_URL = await benchSchema(opt['database-url'], { prefix: 'soakp_scale', keep: opt.keep });
  // A kept store can be queried afterwards: `env $(cat <dir>/env) node bin/soakp.js usage …` (a throwaway bench key).
  if (opt.keep) writeFileSync(join(dir, 'env'), ['SOAKP_DATA_DIR', 'SOAKP_MASTER_KEY', 'SOAKP_DATABASE_URL'].filter((k) => env[k]).map((k) => `${k}=${env[k]}`).join('\n'));
  const t0 = performance.now();
  const fresh = await fill(env, users, rows);
  const fillS = Math.round((performance.now() - t0) / 1000);
  const usage = (by) => timed(() => execFileSync(process.execPath, [join(ROOT, 'bin', 'soakp.js'), 'usage', '--since', '30d', '--by', by, '--json'], { env, stdio: ['ignore', 'ignore', 'inherit'] }));
  const s = await serve(env, upstreamPort);
  const rssAtStart = s.rssMb();
  const firstUseMs = await firstUse(s.port, fresh);
  const result = { label, users, tokens: users * 2, rows, fillS, usageByUserMs: usage('user'), usageByDayMs: usage('day'), usageByModelMs: usage('model'), serveStartMs: s.startMs, rssAtStartMb: rssAtStart, rssAfterMb: s.rssMb(), firstUseMedianMs: firstUseMs };
  s.stop();
  console.log(JSON.stringify(result));
}

async function vacuum(url) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  for (const table of ['usage', 'users', 'tokens', 'upstream_keys']) await client.query(`vacuum analyze ${table}`);
  await client.end();
}


async function main() {
  const up = track(spawn(process.execPath, [join(HERE, 'upstream.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const { port } = await firstJsonLine(up);
  await run('small', 500, 10_000, port);
  await run('large', Number(opt.users), Number(opt.rows), port);
}

await runMain(main);
