// `npm run bench:profile`: runs soakp (or the bare proxy) under `node --cpu-prof` with load
// from wrk, stops it cleanly so V8 writes the profile, and summarises where the time went.
// Options: --target soakp|bare (soakp) --body chat|stream (chat) --connections N (32)
//          --seconds S (10) --out DIR (bench/results)
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { firstJsonLine, onCleanup, runMain, stop, track } from './children.mjs';
import { BODIES, runLoad } from './load.mjs';
import { freePort, pinSelf, spawnPinned } from './proc.mjs';
import { summarise, toMarkdown } from './profile-summary.mjs';
import { startSoakp } from './soakp.mjs';
import { UPSTREAM_KEY } from './upstream.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const { values: opt } = parseArgs({
  options: {
    target: { type: 'string', default: 'soakp' }, body: { type: 'string', default: 'chat' }, connections: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '10' }, out: { type: 'string', default: join(HERE, 'results') },
  },
});
const SECONDS = Math.min(120, Math.max(1, Number(opt.seconds)));
if (!['soakp', 'bare'].includes(opt.target) || !['chat', 'stream'].includes(opt.body)) {
  console.error('--target is soakp or bare, --body chat or stream');
  process.exit(2);
}

async function main() {
  pinSelf(1); // the load and the upstream on core 1, the proxy on core 0
  const tmp = mkdtempSync(join(tmpdir(), 'soakp-profile-'));
  onCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  const profDir = join(tmp, 'prof');
  const nodeArgs = ['--cpu-prof', '--cpu-prof-dir', profDir];
  const up = track(spawnPinned(1, process.execPath, [join(HERE, 'upstream.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const { port: upstreamPort } = await firstJsonLine(up);
  let proxy;
  if (opt.target === 'soakp') {
    const s = await startSoakp({ dir: join(tmp, 'soakp'), port: await freePort(), upstreamPort, upstreamKey: UPSTREAM_KEY, cpu: 0, nodeArgs });
    proxy = { child: s.child, port: s.port, token: s.token };
  } else {
    const child = track(spawnPinned(0, process.execPath, [...nodeArgs, join(HERE, 'bare.mjs'), `http://127.0.0.1:${upstreamPort}`, UPSTREAM_KEY], { stdio: ['ignore', 'pipe', 'inherit'] }));
    proxy = { child, port: (await firstJsonLine(child)).port, token: 'sk-soakp-unused' };
  }
  const url = `http://127.0.0.1:${proxy.port}/v1/chat/completions`;
  const load = { url, body: BODIES[opt.body], token: proxy.token, connections: Number(opt.connections), cpu: 1, tmpDir: tmp };
  await runLoad({ ...load, seconds: 2 }); // warm-up, in the profile too
  const fromUs = Number(process.hrtime.bigint() / 1000n); // V8's profile clock is the same monotonic clock
  const r = await runLoad({ ...load, seconds: SECONDS });
  const toUs = Number(process.hrtime.bigint() / 1000n);
  console.error(`${opt.target} ${opt.body} c=${opt.connections}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50Ms.toFixed(3)} ms, errors ${r.errors + r.non2xx}`);
  await stop(proxy.child, 'SIGTERM', 15_000); // a clean exit writes the profile
  const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written in ${profDir}`);
  mkdirSync(opt.out, { recursive: true });
  const name = `${opt.target}-${opt.body}-c${opt.connections}`;
  copyFileSync(join(profDir, file), join(opt.out, `${name}.cpuprofile`));
  const head = `Profile of ${opt.target}, ${opt.body} (${opt.body === 'chat' ? 'non-streaming' : 'streaming'}) at c=${opt.connections}: the ${SECONDS} s of measured load only (start-up and a 2 s warm-up left out), ${r.rps.toFixed(0)} req/s, ${r.requests} requests.\n\n`;
  const md = head + toMarkdown(summarise(JSON.parse(readFileSync(join(profDir, file), 'utf8')), ROOT, { fromUs, toUs }), 15, r.requests);
  writeFileSync(join(opt.out, `profile-${name}.md`), md);
  process.stdout.write(`${md}\nWritten: ${join(opt.out, `profile-${name}.md`)} and ${name}.cpuprofile (open it in Chrome DevTools)\n`);
}

await runMain(main);
