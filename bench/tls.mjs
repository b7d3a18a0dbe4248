// `npm run bench:tls`: what HTTPS adds to soakp's CPU per request and latency, beside what it
// adds to nginx's (and to bare's). Each proxy runs twice in front of the same fake upstream, plain and
// with TLS (bench/tls-setup.mjs: one ECDSA P-256 certificate made at the start, TLS 1.3 with
// TLS_AES_128_GCM_SHA256 only, X25519), pinned as in run.mjs: each proxy on core 0, the
// upstream, the load and this script on core 1. A non-streaming chat request in four scenarios:
//   keepalive-c1, keepalive-c32  keep-alive connections (wrk); TLS: one handshake per connection
//   handshake-c1                 a new connection per request (bench/nodeload.mjs); TLS: a full
//                                handshake each time
//   resumed-c1                   the same, but each TLS connection resumes the last session the
//                                server gave (a session ticket); the client counts how many did
// The plain processes answer the same load over plain HTTP (a new TCP connection per request in
// the last two), so what TLS adds is the TLS process's figure minus the plain one's.
// Options: --rounds N (3) --seconds S (3) --warmup S (5, per target and mode) --scenarios a,b
//          --wait-idle S (120) --soakp-node="FLAGS" (node options for both soakp processes)
//          --out DIR (bench/results) --only soakp,bare,nginx (the proxies, each plain and with TLS)
// bare (bench/bare.mjs, over node:https for TLS) shows what TLS adds to the floor for a Node
// proxy: the part of soakp's addition that is Node's, not soakp's.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { firstJsonLine, onCleanup, runMain, track } from './children.mjs';
import { BODIES, HAS_WRK, runLoad } from './load.mjs';
import { distHash, machineInfo, waitForQuiet } from './machine.mjs';
import { NGINX, startNginx } from './nginx.mjs';
import { coreTimes, foreignSeconds, freePort, pinSelf, quiet, spawnPinned, treeCpuSeconds } from './proc.mjs';
import { POLICY_ARGS, startSoakp } from './soakp.mjs';
import { NODE_TLS_ARGS, TLS_PIN, checkPinned, makeCertificate } from './tls-setup.mjs';
import { TLS_SCENARIOS, summariseTls, tlsMarkdown } from './tls-report.mjs';
import { UPSTREAM_KEY } from './upstream.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({ options: { only: { type: 'string', default: 'soakp,bare,nginx' }, rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '3' }, warmup: { type: 'string', default: '5' }, scenarios: { type: 'string' }, 'soakp-node': { type: 'string', default: '' }, 'wait-idle': { type: 'string', default: '120' }, out: { type: 'string', default: join(HERE, 'results') } } });
const ROUNDS = Math.min(20, Math.max(1, Number(opt.rounds)));
const SECONDS = Math.min(60, Math.max(1, Number(opt.seconds)));
const WARMUP = Math.min(60, Math.max(1, Number(opt.warmup)));
const PROXY_CPU = 0;
const LOAD_CPU = 1;
const NOISE_LIMIT = 10; // % of one core used by the rest of the machine during a measurement, as in run.mjs
// `plain`: the load on the plain processes; `tls`: on the TLS ones (bench/nodeload.mjs's modes).
const SCENARIOS = [
  { id: 'keepalive-c1', connections: 1, plain: 'keepalive', tls: 'keepalive' },
  { id: 'keepalive-c32', connections: 32, plain: 'keepalive', tls: 'keepalive' },
  { id: 'handshake-c1', connections: 1, plain: 'new', tls: 'new' },
  { id: 'resumed-c1', connections: 1, plain: 'new', tls: 'resume' },
].filter((sc) => !opt.scenarios || opt.scenarios.split(',').includes(sc.id));
if (SCENARIOS.length === 0) throw new Error(`--scenarios names none of ${TLS_SCENARIOS.join(', ')}`);

const ONLY = opt.only.split(',');
if (!ONLY.includes('soakp')) throw new Error('--only must name soakp (and any of bare, nginx)');
const rotate = (list, n) => list.map((_, i) => list[(i + n) % list.length]);
const urlOf = (t) => `${t.tls ? 'https' : 'http'}://127.0.0.1:${t.port}/v1/chat/completions`;

/** The OpenSSL nginx runs with (`nginx -V`, on stderr: "running with OpenSSL …", else "built with …"). */
function nginxOpenssl() {
  if (!NGINX) return null;
  const { stdout = '', stderr = '' } = spawnSync(NGINX, ['-V'], { encoding: 'utf8' });
  const text = `${stdout}${stderr}`;
  return text.match(/running with OpenSSL (\S+)/)?.[1] ?? text.match(/built with OpenSSL (\S+)/)?.[1] ?? null;
}

async function main() {
  const notes = [];
  const pinned = pinSelf(LOAD_CPU);
  if (!pinned) notes.push('taskset not found: processes are not pinned, figures are noisier.');
  if (!HAS_WRK) notes.push('wrk not found (or BENCH_LOAD=node): keep-alive load from bench/nodeload.mjs too.');
  if (!NGINX) notes.push('nginx not found: nothing to check soakp\'s figures against (apt-get install -y nginx-light).');
  const busy = await waitForQuiet(Number(opt['wait-idle']));
  if (busy >= 0.1) notes.push(`The machine was busy before the run: other processes used ${busy.toFixed(2)} cores (over 2 s).`);
  const distBefore = distHash();
  const tmp = mkdtempSync(join(tmpdir(), 'soakp-bench-tls-'));
  onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  const tls = makeCertificate(tmp);

  const up = track(spawnPinned(LOAD_CPU, process.execPath, [join(HERE, 'upstream.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const { port: upstreamPort } = await firstJsonLine(up);
  const nodeArgs = opt['soakp-node'].split(' ').filter(Boolean);
  // Per proxy a pair: [plain, TLS].
  const pairs = [];
  const pair = [];
  for (const secure of [false, true]) {
    const name = secure ? 'soakp-tls' : 'soakp';
    const s = await startSoakp({ dir: join(tmp, name), port: await freePort(), upstreamPort, upstreamKey: UPSTREAM_KEY, cpu: PROXY_CPU, nodeArgs: secure ? [...nodeArgs, ...NODE_TLS_ARGS] : nodeArgs, tls: secure ? tls : undefined });
    pair.push({ name, tls: secure, port: s.port, token: s.token, pid: s.pid });
  }
  pairs.push(pair);
  const token = pair[0].token; // the others ignore it
  if (ONLY.includes('bare')) {
    const env = (secure) => ({ ...process.env, ...(secure ? { BENCH_TLS_CERT: tls.cert, BENCH_TLS_KEY: tls.key } : {}) });
    const start = async (secure) => {
      const bare = track(spawnPinned(PROXY_CPU, process.execPath, [...(secure ? NODE_TLS_ARGS : []), join(HERE, 'bare.mjs'), `http://127.0.0.1:${upstreamPort}`, UPSTREAM_KEY], { stdio: ['ignore', 'pipe', 'inherit'], env: env(secure) }));
      return { name: secure ? 'bare-tls' : 'bare', tls: secure, port: (await firstJsonLine(bare)).port, token, pid: bare.pid };
    };
    pairs.push([await start(false), await start(true)]);
  }
  if (NGINX && ONLY.includes('nginx')) {
    const start = async (secure) => {
      const ngx = await startNginx({ dir: join(tmp, secure ? 'nginx-tls' : 'nginx'), port: await freePort(), upstreamPort, key: UPSTREAM_KEY, cpu: PROXY_CPU, tls: secure ? tls : undefined });
      return { name: secure ? 'nginx-tls' : 'nginx', tls: secure, port: ngx.port, token, pid: ngx.pid };
    };
    pairs.push([await start(false), await start(true)]);
  }
  const targets = pairs.flat();
  for (const t of targets.filter((x) => x.tls)) await checkPinned(t.name, t.port, tls.ca);
  await sleep(1000);
  const results = Object.fromEntries(targets.map((t) => [t.name, { scenarios: {} }]));
  const load = (t, mode, connections, seconds) => runLoad({ url: urlOf(t), body: BODIES.chat, token: t.token, connections, seconds, cpu: LOAD_CPU, tmpDir: tmp, mode, ca: tls.ca });

  // Keep-alive at c=32 as in run.mjs, then each kind of new connection the target will see, so
  // that V8 has compiled soakp's connection and handshake paths before the first measurement.
  console.error(`warm-up (${targets.map((t) => t.name).join(', ')}) …`);
  for (const t of targets) {
    await load(t, 'keepalive', 32, WARMUP);
    for (const mode of new Set(SCENARIOS.map((sc) => (t.tls ? sc.tls : sc.plain)).filter((m) => m !== 'keepalive'))) await load(t, mode, 1, WARMUP);
  }

  // One cell, as in run.mjs: measured again (at most twice) when the rest of the machine was busy.
  const cell = async (t, sc, label) => {
    const mode = t.tls ? sc.tls : sc.plain;
    let best = null;
    let attempts = 0;
    for (let attempt = 1; attempt <= 3; attempt++) {
      attempts = attempt;
      const cpu0 = treeCpuSeconds(t.pid);
      const [foreign0, load0, wall0] = [foreignSeconds(), coreTimes()[LOAD_CPU].busy, performance.now()];
      const r = await load(t, mode, sc.connections, SECONDS);
      const wallS = (performance.now() - wall0) / 1000;
      r.noisePct = Math.max(0, (100 * (foreignSeconds() - foreign0)) / wallS);
      r.loadCoreBusyPct = (100 * (coreTimes()[LOAD_CPU].busy - load0)) / wallS;
      r.cpuSeconds = (await quiet(t.pid)) - cpu0;
      r.mode = mode;
      const resumed = r.handshakes === undefined ? '' : `  resumed ${r.resumed}/${r.handshakes}`;
      console.error(`${label} ${sc.id.padEnd(13)} ${t.name.padEnd(9)} ${r.rps.toFixed(0).padStart(6)} rps  p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms.toFixed(3)} ms  cpu ${((r.cpuSeconds / r.requests) * 1e6).toFixed(1)} us/req${resumed}  noise ${r.noisePct.toFixed(1)}%  load core ${r.loadCoreBusyPct.toFixed(0)}%${r.errors || r.non2xx ? `  ERRORS ${r.errors} non2xx ${r.non2xx}` : ''}`);
      if (!best || r.noisePct < best.noisePct) best = { ...r };
      if (r.noisePct <= NOISE_LIMIT) break;
      if (attempt < 3) await waitForQuiet(30);
    }
    return { ...best, attempts };
  };
  // The plain and TLS process of one proxy are measured one after the other, in turns first,
  // so that what TLS adds is read over the same stretch of the machine's weather.
  for (let round = 0; round < ROUNDS; round++) {
    for (const sc of SCENARIOS) {
      const order = (round % 2 ? rotate(pairs, round).reverse().map((p) => [...p].reverse()) : rotate(pairs, round)).flat();
      for (const t of order) (results[t.name].scenarios[sc.id] ??= []).push(await cell(t, sc, `round ${round + 1}/${ROUNDS}`));
    }
  }

  if (distHash() !== distBefore) notes.push('dist/ changed during the run (rebuilt by someone else): soakp ran the build that was there when it started.');
  const machine = { ...(await machineInfo()), dist: distBefore, nodeOpenssl: process.versions.openssl, nginxOpenssl: nginxOpenssl() };
  const run = { rounds: ROUNDS, seconds: SECONDS, pinned, keepAliveTool: HAS_WRK ? 'wrk' : 'nodeload', tls: TLS_PIN, soakpPolicy: `token issue … ${POLICY_ARGS.join(' ')}`, scenarios: SCENARIOS, notes };
  const summary = summariseTls(results);
  const out = { date: new Date().toISOString(), machine, run, summary, raw: results };
  mkdirSync(opt.out, { recursive: true });
  writeFileSync(join(opt.out, 'tls.json'), `${JSON.stringify(out, null, 2)}\n`);
  const md = tlsMarkdown(out);
  writeFileSync(join(opt.out, 'tls.md'), md);
  process.stdout.write(`${md}\nWritten: ${join(opt.out, 'tls.json')}, ${join(opt.out, 'tls.md')}\n`);
}

await runMain(main);
