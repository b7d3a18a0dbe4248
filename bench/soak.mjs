// `npm run bench:soak`: a leak check. Mixed load at a fixed rate through soakp (7 in 10
// streaming chat, 2 plain chat, 1 embeddings) for --minutes (10); every --interval s (10) it
// samples soakp's RSS, live heap (after a full GC, through bench/heap-probe.mjs), open file
// descriptors and sockets, then fits a line to each and reports growth per minute.
// Options: --minutes N (10) --rate R req/s (100) --interval S (10) --settle M (minutes before the
// fits start: 1) --out DIR (bench/results)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { firstJsonLine, onCleanup, runMain, track } from './children.mjs';
import { BODIES } from './load.mjs';
import { descriptors, foreignSeconds, freePort, mappingsMb, memoryMb, pinSelf, spawnPinned } from './proc.mjs';
import { distHash } from './machine.mjs';
import { fit, soakMarkdown } from './soak-report.mjs';
import { startSoakp } from './soakp.mjs';
import { UPSTREAM_KEY } from './upstream.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, rate: { type: 'string', default: '100' }, interval: { type: 'string', default: '10' }, settle: { type: 'string' }, out: { type: 'string', default: join(HERE, 'results') } } });
const MINUTES = Math.min(24 * 60, Math.max(0.5, Number(opt.minutes)));
const RATE = Math.min(5000, Math.max(1, Number(opt.rate)));
const INTERVAL = Math.min(600, Math.max(1, Number(opt.interval)));
// Minutes left out of the fits: the first, by default (caches and V8's young generation fill then).
const SETTLE = opt.settle === undefined ? undefined : Math.min(MINUTES - 1, Math.max(0, Number(opt.settle)));
const MIX = ['stream', 'stream', 'chat', 'stream', 'embeddings', 'stream', 'stream', 'chat', 'stream', 'stream'];

async function main() {
  pinSelf(1); // the load and the upstream on core 1, the proxy on core 0
  const tmp = mkdtempSync(join(tmpdir(), 'soakp-soak-'));
  onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  const up = track(spawnPinned(1, process.execPath, [join(HERE, 'upstream.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const { port: upstreamPort } = await firstJsonLine(up);
  const heapFile = join(tmp, 'heap.json');
  const nodeArgs = ['--expose-gc', '--import', pathToFileURL(join(HERE, 'heap-probe.mjs')).href];
  const s = await startSoakp({ dir: join(tmp, 'soakp'), port: await freePort(), upstreamPort, upstreamKey: UPSTREAM_KEY, cpu: 0, nodeArgs, extraEnv: { SOAKP_BENCH_HEAP_FILE: heapFile } });
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const counts = { sent: 0, ok: 0, failed: 0, skipped: 0, inFlight: 0 };
  let window = { latencies: [], maxInFlight: 0, skipped: 0 }; // since the last sample
  const fire = (kind) => {
    if (counts.inFlight >= 256) {
      counts.skipped++; // the proxy is behind; do not pile up
      window.skipped++;
      return;
    }
    counts.sent++;
    counts.inFlight++;
    window.maxInFlight = Math.max(window.maxInFlight, counts.inFlight);
    const t0 = performance.now();
    const body = Buffer.from(BODIES[kind]);
    const path = kind === 'embeddings' ? '/v1/embeddings' : '/v1/chat/completions';
    const headers = { 'content-type': 'application/json', 'content-length': body.length, authorization: `Bearer ${s.token}` };
    const done = (ok) => {
      counts.inFlight--;
      window.latencies.push(performance.now() - t0); // counted in the interval it ends in
      if (ok) counts.ok++;
      else counts.failed++;
    };
    const req = request({ host: '127.0.0.1', port: s.port, path, method: 'POST', headers, agent }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 200));
      res.on('error', () => done(false));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => done(false));
    req.end(body);
  };

  let lastSample = { wall: performance.now(), foreign: foreignSeconds() };
  const sample = async (t) => {
    let heap = null;
    const before = existsSync(heapFile) ? JSON.parse(readFileSync(heapFile, 'utf8')).seq : 0;
    process.kill(s.pid, 'SIGUSR2');
    for (let i = 0; i < 40 && !heap; i++) {
      await sleep(25);
      const h = existsSync(heapFile) ? JSON.parse(readFileSync(heapFile, 'utf8')) : null;
      if (h && h.seq > before) heap = h;
    }
    const mem = memoryMb(s.pid);
    const maps = mappingsMb(s.pid);
    const fd = descriptors(s.pid);
    const lat = window.latencies.sort((a, b) => a - b);
    const wallS = (performance.now() - lastSample.wall) / 1000;
    const row = {
      t, rssMb: mem.rssMb, heapUsedMb: heap ? heap.heapUsed / 2 ** 20 : null, externalMb: heap ? heap.external / 2 ** 20 : null,
      heapPhysicalMb: heap?.heapPhysical ? heap.heapPhysical / 2 ** 20 : null, mallocMainMb: maps.brkMb, fileMb: maps.fileMb,
      otherAnonMb: heap?.heapPhysical ? maps.anonMb - heap.heapPhysical / 2 ** 20 : null, fds: fd.fds, sockets: fd.sockets,
      ok: counts.ok, failed: counts.failed, answered: lat.length, p99Ms: lat[Math.floor(lat.length * 0.99)] ?? null, maxMs: lat.at(-1) ?? null,
      maxInFlight: window.maxInFlight, skipped: window.skipped, loopDelayMaxMs: heap?.loopDelayMaxMs ?? null, noisePct: t ? Math.max(0, (100 * (foreignSeconds() - lastSample.foreign)) / wallS) : 0,
    };
    window = { latencies: [], maxInFlight: counts.inFlight, skipped: 0 };
    lastSample = { wall: performance.now(), foreign: foreignSeconds() };
    console.error(`${(t / 60).toFixed(1).padStart(5)} min  rss ${row.rssMb.toFixed(1)} MB  heap ${row.heapUsedMb?.toFixed(1) ?? '?'} MB (committed ${row.heapPhysicalMb?.toFixed(1) ?? "?"})  malloc ${row.mallocMainMb.toFixed(1)} + ${row.otherAnonMb?.toFixed(1) ?? "?"} MB  fds ${row.fds}  sockets ${row.sockets}  ok ${counts.ok}  failed ${counts.failed}  p99 ${row.p99Ms?.toFixed(1) ?? '-'} ms  max ${row.maxMs?.toFixed(0) ?? '-'} ms  loop delay max ${row.loopDelayMaxMs?.toFixed(0) ?? '?'} ms  noise ${row.noisePct.toFixed(0)}%`);
    return row;
  };

  console.error(`soak: ${MINUTES} min at ${RATE} req/s through soakp (pid ${s.pid}), sampling every ${INTERVAL} s`);
  const dist = distHash(); // the build soakp was started from (dist/ may be rebuilt meanwhile)
  const samples = [await sample(0)];
  const start = performance.now();
  const end = start + MINUTES * 60_000;
  let nextSample = start + INTERVAL * 1000;
  // Fixed rate: every 5 ms, send what the schedule says is due. Bounded by the end time.
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - start) / 1000) * RATE);
    while (counts.sent + counts.skipped < due) fire(MIX[(counts.sent + counts.skipped) % MIX.length]);
    if (performance.now() >= nextSample) {
      samples.push(await sample((performance.now() - start) / 1000));
      nextSample += INTERVAL * 1000;
    }
    await sleep(5);
  }
  for (let i = 0; i < 200 && counts.inFlight > 0; i++) await sleep(50);
  agent.destroy();
  const result = { date: new Date().toISOString(), dist, minutes: MINUTES, rate: RATE, intervalS: INTERVAL, counts, fits: fit(samples, MINUTES, SETTLE), samples };
  mkdirSync(opt.out, { recursive: true });
  writeFileSync(join(opt.out, 'soak.json'), `${JSON.stringify(result, null, 2)}\n`);
  const md = soakMarkdown(result);
  writeFileSync(join(opt.out, 'soak.md'), md);
  process.stdout.write(`${md}\nWritten: ${join(opt.out, 'soak.json')}, ${join(opt.out, 'soak.md')}\n`);
}

await runMain(main);
