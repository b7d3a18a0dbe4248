// `npm run bench:perf`: where each proxy's CPU goes per request, kernel and native code
// included — what `node --cpu-prof` cannot show. soakp and bare run side by side (each with
// `--perf-basic-prof`, so V8's compiled code has names), the load alternates between them, and
// Linux `perf` samples the proxy under load on its clock (no hardware counters needed: VMs
// rarely have them). Printed per request: CPU by layer (kernel, Node's binary — V8's runtime,
// builtins and GC, libuv —, compiled JavaScript, libc, SQLite) and the symbols that differ most.
// Options: --body chat|stream (chat) --connections N (32) --seconds S (8) --rounds N (2) --top N (25)
//          --out DIR (bench/results): writes perf-<body>-c<N>.md there
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { firstJsonLine, onCleanup, runMain, stop, track } from './children.mjs';
import { BODIES, runLoad } from './load.mjs';
import { parseReport } from './perf-report.mjs';
import { freePort, hasProgram, pinSelf, spawnPinned } from './proc.mjs';
import { distHash, machineInfo } from './machine.mjs';
import { startSoakp } from './soakp.mjs';
import { UPSTREAM_KEY } from './upstream.mjs';

const HERE = new URL('.', import.meta.url).pathname;
const { values: opt } = parseArgs({
  options: {
    body: { type: 'string', default: 'chat' }, connections: { type: 'string', default: '32' }, seconds: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '2' }, top: { type: 'string', default: '25' }, out: { type: 'string', default: join(HERE, 'results') },
  },
});
const SECONDS = Math.min(60, Math.max(3, Number(opt.seconds)));
const ROUNDS = Math.max(1, Number(opt.rounds));
const FREQUENCY = 4000;
const PERF_ARGS = ['-e', 'cpu-clock', '-F', String(FREQUENCY)];

/** perf's report of one recording: `sort` keys → samples. */
function report(file, sort) {
  const args = ['report', '-i', file, '--no-children', '-n', '--sort', sort, '--stdio'];
  return parseReport(execFileSync('perf', args, { maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] }).toString());
}

/** Samples `pid` for SECONDS while the load runs; the recording and the requests a second. */
async function sample(target, tmp, round) {
  const file = join(tmp, `${target.name}-${round}.data`);
  const load = runLoad({ url: `http://127.0.0.1:${target.port}/v1/chat/completions`, body: BODIES[opt.body], token: target.token, connections: Number(opt.connections), seconds: SECONDS + 2, cpu: 1, tmpDir: tmp });
  // After a second of load, for SECONDS: the recording's window lies within the load's.
  await new Promise((ok) => setTimeout(ok, 1000));
  execFileSync('perf', ['record', ...PERF_ARGS, '-p', String(target.pid), '-o', file, '--', 'sleep', String(SECONDS)], { stdio: 'ignore' });
  const r = await load;
  return { file, rps: r.rps };
}

async function main() {
  if (!hasProgram('perf')) throw new Error('perf is missing: apt-get install -y linux-perf');
  pinSelf(1);
  const tmp = mkdtempSync(join(tmpdir(), 'soakp-perf-'));
  onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  const nodeArgs = ['--perf-basic-prof'];
  const up = track(spawnPinned(1, process.execPath, [join(HERE, 'upstream.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const { port: upstreamPort } = await firstJsonLine(up);
  const s = await startSoakp({ dir: join(tmp, 'soakp'), port: await freePort(), upstreamPort, upstreamKey: UPSTREAM_KEY, cpu: 0, nodeArgs });
  const bare = track(spawnPinned(0, process.execPath, [...nodeArgs, join(HERE, 'bare.mjs'), `http://127.0.0.1:${upstreamPort}`, UPSTREAM_KEY], { stdio: ['ignore', 'pipe', 'inherit'] }));
  // V8 writes /tmp/perf-<pid>.map for perf (0.3–0.6 MB a run); they are of no use once it is over.
  for (const pid of [s.pid, bare.pid]) onCleanup(() => rmSync(`/tmp/perf-${pid}.map`, { force: true }));
  const targets = [{ name: 'soakp', pid: s.pid, port: s.port, token: s.token }, { name: 'bare', pid: bare.pid, port: (await firstJsonLine(bare)).port, token: 'sk-soakp-unused' }];
  for (const t of targets) await runLoad({ url: `http://127.0.0.1:${t.port}/v1/chat/completions`, body: BODIES[opt.body], token: t.token, connections: 32, seconds: 5, cpu: 1, tmpDir: tmp });
  const by = { soakp: { dso: new Map(), sym: new Map(), us: 0 }, bare: { dso: new Map(), sym: new Map(), us: 0 } };
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of round % 2 ? [...targets].reverse() : targets) {
      const r = await sample(t, tmp, round);
      // A sample is 1/4000 s of the proxy's CPU; the requests in the window are its rate × SECONDS.
      const usPerSample = 1e6 / FREQUENCY / (r.rps * SECONDS) / ROUNDS;
      const acc = by[t.name];
      let samples = 0;
      for (const [k, n] of report(r.file, 'dso')) {
        acc.dso.set(k, (acc.dso.get(k) ?? 0) + n * usPerSample);
        samples += n;
      }
      for (const [k, n] of report(r.file, 'sym')) acc.sym.set(k, (acc.sym.get(k) ?? 0) + n * usPerSample);
      acc.us += samples * usPerSample;
      console.error(`round ${round + 1}/${ROUNDS} ${t.name.padEnd(5)} ${r.rps.toFixed(0)} req/s, ${(samples * usPerSample * ROUNDS).toFixed(1)} µs of CPU per request sampled`);
    }
  }
  await stop(s.child);
  await stop(bare);
  const m = await machineInfo();
  const md = `Run ${new Date().toISOString()}, soakp ${m.commit}${m.dirty ? ' (src/ modified)' : ''}, build dist/ ${distHash()}; Node ${process.version}.\n\n${table(by, Number(opt.top))}`;
  mkdirSync(opt.out, { recursive: true });
  const file = join(opt.out, `perf-${opt.body}-c${opt.connections}.md`);
  writeFileSync(file, md);
  process.stdout.write(`${md}\nWritten: ${file}\n`);
}

function table(by, top) {
  const lines = [];
  const log = (text) => lines.push(text);
  log(`${opt.body} at c=${opt.connections}, ${ROUNDS} × ${SECONDS} s each, perf cpu-clock samples; µs per request (a sampled core's time ÷ requests)\n`);
  log(`| layer | soakp | bare | soakp − bare |\n| --- | ---: | ---: | ---: |`);
  const row = (k, a, b) => `| ${k} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a - b).toFixed(1)} |`;
  const layers = [...new Set([...by.soakp.dso.keys(), ...by.bare.dso.keys()])].map((k) => [k, by.soakp.dso.get(k) ?? 0, by.bare.dso.get(k) ?? 0]).filter(([, a, b]) => a + b >= 0.1);
  for (const [k, a, b] of layers.sort((x, y) => y[1] - x[1])) log(row(k, a, b));
  log(row('**all**', by.soakp.us, by.bare.us));
  const syms = [...new Set([...by.soakp.sym.keys(), ...by.bare.sym.keys()])].map((k) => [k, by.soakp.sym.get(k) ?? 0, by.bare.sym.get(k) ?? 0]);
  log(`\nThe ${top} symbols soakp spends most more on than bare:\n\n| symbol | soakp | bare | soakp − bare |\n| --- | ---: | ---: | ---: |`);
  for (const [k, a, b] of syms.sort((x, y) => y[1] - y[2] - (x[1] - x[2])).slice(0, top)) log(row(k.replaceAll('|', '\\|').slice(0, 110), a, b));
  return `${lines.join('\n')}\n`;
}

await runMain(main);
