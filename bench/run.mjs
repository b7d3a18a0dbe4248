// `npm run bench`: direct vs soakp vs bare vs nginx, side by side, in one run.
// Pinning: each proxy on core 0 (`taskset -c 0`), the fake upstream, the load generator and
// this script on core 1, so the proxy under test has a core to itself.
// Options: --rounds N (3) --seconds S (3) --ttfb N (300 per target) --warmup S (5, per target and body)
//          --only a,b --wait-idle S (120) --soakp-node="FLAGS" (node options for soakp only)
//          --settle-rss S (73: RSS read again this long after the 2 s reading; 0: not)
//          --scenarios a,b (all; e.g. stream-c32 or stream-sdk-c32 alone, to read one scenario's peak RSS)
//          --out DIR (bench/results)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { firstJsonLine, onCleanup, runMain, track } from './children.mjs';
import { BODIES, HAS_WRK, closeAgents, runLoad, timeFirstEvent } from './load.mjs';
import { NGINX, startNginx } from './nginx.mjs';
import { coreTimes, descriptors, foreignSeconds, freePort, memoryMb, pinSelf, quiet, spawnPinned, treeCpuSeconds } from './proc.mjs';
import { distHash, machineInfo, waitForQuiet } from './machine.mjs';
import { summarise, toMarkdown } from './report.mjs';
import { POLICY_ARGS, startSoakp } from './soakp.mjs';
import { UPSTREAM_KEY } from './upstream.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, seconds: { type: 'string', default: '3' }, ttfb: { type: 'string', default: '300' }, warmup: { type: 'string', default: '5' }, only: { type: 'string' }, scenarios: { type: 'string' }, 'soakp-node': { type: 'string', default: '' }, 'wait-idle': { type: 'string', default: '120' }, 'settle-rss': { type: 'string', default: '73' }, out: { type: 'string', default: join(HERE, 'results') } } });
const ROUNDS = Math.min(20, Math.max(1, Number(opt.rounds)));
const SECONDS = Math.min(60, Math.max(1, Number(opt.seconds)));
const TTFB_N = Math.min(5000, Math.max(50, Number(opt.ttfb)));
const WARMUP = Math.min(60, Math.max(1, Number(opt.warmup)));
const PROXY_CPU = 0;
const LOAD_CPU = 1;
const SCENARIOS = [
  { id: 'chat-c1', body: BODIES.chat, connections: 1 },
  { id: 'chat-c32', body: BODIES.chat, connections: 32 },
  { id: 'stream-c1', body: BODIES.stream, connections: 1 },
  { id: 'stream-c32', body: BODIES.stream, connections: 32 },
  // soakp as most clients meet it: a token with no policy, a stream as the official SDK sends it
  // (no stream_options, so the upstream's answer carries no usage unless soakp asks for it).
  { id: 'stream-sdk-c1', body: BODIES['stream-sdk'], connections: 1, plain: true },
  { id: 'stream-sdk-c32', body: BODIES['stream-sdk'], connections: 32, plain: true },
].filter((sc) => !opt.scenarios || opt.scenarios.split(',').includes(sc.id));
if (SCENARIOS.length === 0) throw new Error('--scenarios names none of the scenarios');

const TTFB_BLOCK = 50;
const NOISE_LIMIT = 10; // % of one core used by the rest of the machine during a measurement

/** The no-policy token for the scenarios that use one (soakp has one; the others ignore tokens). */
const tokenOf = (t, sc) => (sc.plain ? t.plainToken ?? t.token : t.token);
const rotate = (list, n) => list.map((_, i) => list[(i + n) % list.length]);

async function main() {
  const notes = [];
  const pinned = pinSelf(LOAD_CPU);
  if (!pinned) notes.push('taskset not found: processes are not pinned, figures are noisier.');
  if (!HAS_WRK) notes.push('wrk not found (or BENCH_LOAD=node): load from bench/nodeload.mjs, which costs more per request (install Debian\'s wrk for better figures).');
  if (!NGINX) notes.push('nginx not found: the nginx column is skipped (apt-get install -y nginx-light).');
  const busy = await waitForQuiet(Number(opt['wait-idle']));
  if (busy >= 0.1) notes.push(`The machine was busy before the run: other processes used ${busy.toFixed(2)} cores (over 2 s).`);
  const distBefore = distHash();
  const tmp = mkdtempSync(join(tmpdir(), 'soakp-bench-'));
  onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  try {
    const up = track(spawnPinned(LOAD_CPU, process.execPath, [join(HERE, 'upstream.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const { port: upstreamPort, ...sizes } = await firstJsonLine(up);
    const targets = [{ name: 'direct', port: upstreamPort, token: UPSTREAM_KEY, pid: null }];
    const soakp = await startSoakp({ dir: join(tmp, 'soakp'), port: await freePort(), upstreamPort, upstreamKey: UPSTREAM_KEY, cpu: PROXY_CPU, nodeArgs: opt['soakp-node'].split(' ').filter(Boolean) });
    targets.push({ name: 'soakp', port: soakp.port, token: soakp.token, plainToken: soakp.plainToken, pid: soakp.pid });
    const bare = track(spawnPinned(PROXY_CPU, process.execPath, [join(HERE, 'bare.mjs'), `http://127.0.0.1:${upstreamPort}`, UPSTREAM_KEY], { stdio: ['ignore', 'pipe', 'inherit'] }));
    targets.push({ name: 'bare', port: (await firstJsonLine(bare)).port, token: soakp.token, pid: bare.pid });
    const ngx = await startNginx({ dir: join(tmp, 'nginx'), port: await freePort(), upstreamPort, key: UPSTREAM_KEY, cpu: PROXY_CPU });
    if (ngx) targets.push({ name: 'nginx', port: ngx.port, token: soakp.token, pid: ngx.pid });
    const only = opt.only?.split(',');
    const active = targets.filter((t) => !only || t.name === 'direct' || only.includes(t.name));
    await sleep(1000);
    const results = {};
    for (const t of active) results[t.name] = { idle: t.pid ? { ...memoryMb(t.pid), ...descriptors(t.pid) } : null, scenarios: {}, ttfb: [] };

    console.error(`warm-up (${active.map((t) => t.name).join(', ')}) …`);
    // Long enough for V8 to have compiled the hot path of the largest target (soakp) before the
    // first measurement: shorter, its first round still ran partly unoptimised code.
    const warm = [...new Map(SCENARIOS.map((sc) => [sc.body, sc])).values()];
    for (const t of active) for (const sc of warm) await runLoad({ url: `http://127.0.0.1:${t.port}/v1/chat/completions`, body: sc.body, token: tokenOf(t, sc), connections: 32, seconds: WARMUP, cpu: LOAD_CPU, tmpDir: tmp });

    // One cell: a load run against one target. A cell during which the rest of the machine used
    // more than NOISE_LIMIT of a core is measured again (at most twice), after waiting for quiet.
    const cell = async (t, sc, label) => {
      let best = null;
      let attempts = 0;
      for (let attempt = 1; attempt <= 3; attempt++) {
        attempts = attempt;
        const cpu0 = t.pid ? treeCpuSeconds(t.pid) : 0;
        const [foreign0, load0, wall0] = [foreignSeconds(), coreTimes()[LOAD_CPU].busy, performance.now()];
        const r = await runLoad({ url: `http://127.0.0.1:${t.port}/v1/chat/completions`, body: sc.body, token: tokenOf(t, sc), connections: sc.connections, seconds: SECONDS, cpu: LOAD_CPU, tmpDir: tmp });
        const wallS = (performance.now() - wall0) / 1000;
        r.noisePct = Math.max(0, (100 * (foreignSeconds() - foreign0)) / wallS);
        r.loadCoreBusyPct = (100 * (coreTimes()[LOAD_CPU].busy - load0)) / wallS; // near 100%: the load side limits req/s
        // Work the proxy defers (log and ledger writes, GC) belongs to these requests, and must
        // not spill into the next target's run: wait until it is idle, and count it.
        r.cpuSeconds = t.pid ? (await quiet(t.pid)) - cpu0 : null;
        console.error(`${label} ${sc.id.padEnd(10)} ${t.name.padEnd(6)} ${r.rps.toFixed(0).padStart(6)} rps  p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms.toFixed(3)} ms${r.cpuSeconds === null ? '' : `  cpu ${((r.cpuSeconds / r.requests) * 1e6).toFixed(1)} us/req`}  noise ${r.noisePct.toFixed(1)}%  load core ${r.loadCoreBusyPct.toFixed(0)}%${r.errors || r.non2xx ? `  ERRORS ${r.errors} non2xx ${r.non2xx}` : ''}`);
        if (!best || r.noisePct < best.noisePct) best = { ...r };
        if (r.noisePct <= NOISE_LIMIT) break;
        if (attempt < 3) await waitForQuiet(30);
      }
      return { ...best, attempts };
    };
    for (let round = 0; round < ROUNDS; round++) {
      for (const sc of SCENARIOS) {
        const order = round % 2 ? rotate(active, round).reverse() : rotate(active, round);
        for (const t of order) (results[t.name].scenarios[sc.id] ??= []).push(await cell(t, sc, `round ${round + 1}/${ROUNDS}`));
      }
    }

    console.error(`time to first SSE event: ${TTFB_N} sequential requests per target, in blocks of ${TTFB_BLOCK} …`);
    for (let b = 0; b < Math.ceil(TTFB_N / TTFB_BLOCK); b++) {
      for (const t of rotate(active, b)) {
        for (let attempt = 1; attempt <= 3; attempt++) {
          const [foreign0, wall0, block] = [foreignSeconds(), performance.now(), []];
          for (let i = 0; i < TTFB_BLOCK + 5; i++) {
            const s = await timeFirstEvent({ port: t.port, token: t.token });
            if (i >= 5) block.push(s.firstMs); // the first 5 of a block warm it up
          }
          const noisePct = (100 * (foreignSeconds() - foreign0)) / ((performance.now() - wall0) / 1000);
          if (t.pid) await quiet(t.pid);
          const sorted = [...block].sort((x, y) => x - y);
          console.error(`first SSE event, block ${b + 1} ${t.name.padEnd(6)} p50 ${sorted[TTFB_BLOCK >> 1].toFixed(3)} ms  noise ${noisePct.toFixed(1)}%`);
          if (noisePct <= NOISE_LIMIT || attempt === 3) {
            results[t.name].ttfb.push(...block);
            results[t.name].ttfbNoisePct = Math.max(results[t.name].ttfbNoisePct ?? 0, noisePct);
            break;
          }
          await waitForQuiet(30);
        }
      }
    }
    closeAgents();
    await sleep(2000);
    for (const t of active) if (t.pid) results[t.name].after = { ...memoryMb(t.pid), ...descriptors(t.pid) };
    // RSS stays up for about a minute once the load stops (V8 keeps the heap it grew), then falls.
    const settle = Number(opt['settle-rss']);
    if (settle > 0) {
      console.error(`waiting ${settle} s for the RSS after the load to settle`);
      await sleep(settle * 1000);
      for (const t of active) if (t.pid) results[t.name].settled = { ...memoryMb(t.pid), afterS: settle + 2 };
    }

    if (distHash() !== distBefore) notes.push('dist/ changed during the run (rebuilt by someone else): soakp ran the build that was there when it started.');
    const machine = { ...(await machineInfo()), dist: distBefore };
    const run = { rounds: ROUNDS, seconds: SECONDS, ttfbRequests: TTFB_N, loadTool: HAS_WRK ? 'wrk' : 'nodeload', pinned, soakpPolicy: `token issue … ${POLICY_ARGS.join(' ')}` + (SCENARIOS.some((sc) => sc.plain) ? ' (stream-sdk: a token with no policy)' : ''), upstream: sizes, notes };
    const summary = summarise(results);
    const out = { date: new Date().toISOString(), machine, run, summary, raw: results };
    mkdirSync(opt.out, { recursive: true });
    writeFileSync(join(opt.out, 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
    const md = toMarkdown(out);
    writeFileSync(join(opt.out, 'latest.md'), md);
    process.stdout.write(`${md}\nWritten: ${join(opt.out, 'latest.json')}, ${join(opt.out, 'latest.md')}\n`);
  } finally {
    closeAgents(); // the children are stopped, and the temp dir removed, by runMain
  }
}

await runMain(main);
