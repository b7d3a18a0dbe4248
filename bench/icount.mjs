// Instructions per request in user space, counted by valgrind (callgrind), for soakp and the
// bare proxy. Unlike CPU time it hardly moves with the rest of a shared machine, so it tells a
// change's effect when `npm run bench` cannot (its noise is several times larger than most
// changes). It leaves out the kernel (system calls, wake-ups) and runs ~50× slower than native.
// Needs valgrind (Debian: apt-get install -y valgrind).
// Run: node bench/icount.mjs [--n 3000] [--warm 8000] [--c 8] [--body chat|stream|stream-sdk]
//        [--policy typical|none (the token's; default: none for stream-sdk, else typical)]
//        [--targets soakp,bare] [--root DIR (a soakp checkout with dist/ built; this one)]
//        [--config FILE (soakp's config file, e.g. to compare a setting; default: none)]
//        [--keep (leave the callgrind files for callgrind_annotate; prints where)]
//        [--database-url postgres://… (soakp on PostgreSQL, in a schema of its own made and dropped here)]
//        [--redis-url redis://… (rate limits in Redis)]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { firstJsonLine, onCleanup, runMain, track } from './children.mjs';
import { BODIES } from './load.mjs';
import { benchSchema } from './pg-schema.mjs';
import { freePort, hasProgram } from './proc.mjs';
import { POLICY_ARGS } from './soakp.mjs';
import { UPSTREAM_KEY } from './upstream.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    n: { type: 'string', default: '3000' }, warm: { type: 'string', default: '8000' }, c: { type: 'string', default: '8' },
    body: { type: 'string', default: 'chat' }, config: { type: 'string' }, targets: { type: 'string', default: 'soakp,bare' }, root: { type: 'string', default: join(HERE, '..') },
    keep: { type: 'boolean', default: false }, policy: { type: 'string' }, 'database-url': { type: 'string' }, 'redis-url': { type: 'string' },
  },
});

// stream-sdk is soakp as most clients meet it: a token with no policy, a stream as the SDK sends it.
const POLICY = opt.policy ?? (opt.body === 'stream-sdk' ? 'none' : 'typical');
if (!BODIES[opt.body] || !['typical', 'none'].includes(POLICY)) throw new Error(`--body is one of ${Object.keys(BODIES).join(', ')}; --policy typical or none`);

/** Sends `n` requests over `c` keep-alive connections; resolves with the number that did not answer 200. */
async function load(port, token, n, c) {
  const agent = new Agent({ keepAlive: true, maxSockets: c });
  const body = Buffer.from(BODIES[opt.body]);
  let sent = 0;
  let bad = 0;
  const one = () => new Promise((resolve) => {
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': body.length };
    const req = request({ host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', agent, headers }, (res) => {
      if (res.statusCode !== 200) bad++;
      res.resume().on('end', resolve);
    });
    req.on('error', () => resolve(bad++));
    req.end(body);
  });
  await Promise.all(Array.from({ length: c }, async () => {
    while (sent < n) {
      sent++;
      await one();
    }
  }));
  agent.destroy();
  return bad;
}

/** Runs `args` under callgrind with instrumentation off; counts only the `n` measured requests. */
async function measure(name, args, env, port, token, dir) {
  const out = join(dir, `${name}.callgrind`);
  const log = openSync(join(dir, `${name}.log`), 'a');
  const child = track(spawn('valgrind', ['--tool=callgrind', '--separate-threads=yes', '--smc-check=all-non-file', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, ...args], { env, stdio: ['ignore', log, log] }));
  for (let i = 0; ; i++) {
    if (i > 600) throw new Error(`${name} did not start under valgrind (see ${dir})`);
    try {
      await (await fetch(`http://127.0.0.1:${port}/healthz`)).arrayBuffer();
      break;
    } catch {
      await sleep(500);
    }
  }
  const c = Number(opt.c);
  const warmBad = await load(port, token, Number(opt.warm), c); // JIT warm-up, not counted
  execFileSync('callgrind_control', ['-i', 'on', String(child.pid)], { stdio: 'ignore' });
  const bad = await load(port, token, Number(opt.n), c);
  await sleep(1500); // work deferred past the answers (ledger flush, settlements) counts too
  execFileSync('callgrind_control', ['-i', 'off', String(child.pid)], { stdio: 'ignore' });
  execFileSync('callgrind_control', ['-d', String(child.pid)], { stdio: 'ignore' });
  child.kill('SIGKILL');
  await sleep(500);
  // One file per thread (--separate-threads): thread 1 runs JavaScript; the others are V8's
  // workers (optimising compiler, concurrent GC) and libuv's pool, whose share moves with when
  // the JIT happens to recompile something, so the main thread's count is the steadier figure.
  let total = 0;
  let main = 0;
  for (const f of readdirSync(dir).filter((f) => f.startsWith(`${name}.callgrind`))) {
    const text = readFileSync(join(dir, f), 'utf8');
    const count = Number(/^totals: (\d+)/m.exec(text)?.[1] ?? 0);
    total += count;
    if (/^thread: 1$/m.test(text)) main += count;
  }
  const per = (x) => Math.round(x / Number(opt.n));
  console.log(`${name}: ${per(total)} instructions per request, ${per(main)} on the main thread (${opt.body}${name === 'soakp' ? `, ${POLICY === 'typical' ? 'typical policy' : 'no policy'}` : ''}, ${opt.n} requests at c=${c} after ${opt.warm}; non-200: ${bad} + ${warmBad} in warm-up)`);
}

async function main() {
  if (!hasProgram('valgrind') || !hasProgram('callgrind_control')) throw new Error('valgrind is not installed (apt-get install -y valgrind)');
  const dir = mkdtempSync(join(tmpdir(), 'soakp-icount-'));
  if (opt.keep) console.log(`callgrind files kept in ${dir}`);
  else onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const up = track(spawn(process.execPath, [join(HERE, 'upstream.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const { port: upstreamPort } = await firstJsonLine(up);
  const targets = opt.targets.split(',');
  if (targets.includes('soakp')) {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SOAKP_')));
    Object.assign(env, { SOAKP_MASTER_KEY: randomBytes(32).toString('base64'), SOAKP_DATA_DIR: join(dir, 'data') });
    if (opt.config) env.SOAKP_CONFIG = resolve(opt.config);
    if (opt['database-url']) env.SOAKP_DATABASE_URL = await benchSchema(opt['database-url']);
    if (opt['redis-url']) env.SOAKP_REDIS_URL = opt['redis-url'];
    const bin = join(opt.root, 'bin', 'soakp.js');
    const cli = (args, input) => execFileSync(process.execPath, [bin, ...args, '--json'], { env, input: input ?? '' }).toString();
    cli(['user', 'add', 'bench@example.com', '--key-stdin', '--no-token'], UPSTREAM_KEY);
    const { token } = JSON.parse(cli(['token', 'issue', 'bench@example.com', '--name', 'bench', ...(POLICY === 'typical' ? POLICY_ARGS : [])]));
    const port = await freePort();
    await measure('soakp', [bin, 'serve', '--port', String(port), '--upstream', `http://127.0.0.1:${upstreamPort}/v1`], env, port, token, dir);
  }
  if (targets.includes('bare')) {
    const port = await freePort();
    await measure('bare', [join(HERE, 'bare.mjs'), `http://127.0.0.1:${upstreamPort}`, UPSTREAM_KEY, String(port)], process.env, port, 'sk-unused', dir);
  }
}


await runMain(main);
