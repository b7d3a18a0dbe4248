// `node bench/idle-rss.mjs [N]`: soakp's idle RSS (VmRSS 1 s after /healthz answers, before any
// request), N fresh starts (3); the figure the benchmark's "idle RSS" column reports.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stop } from './children.mjs';
import { freePort } from './proc.mjs';
import { startSoakp } from './soakp.mjs';

const runs = Number(process.argv[2] ?? 3);
const readings = [];
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(join(tmpdir(), 'soakp-idle-'));
  try {
    const s = await startSoakp({ dir, port: await freePort(), upstreamPort: 9, upstreamKey: 'sk-unused', cpu: 0 });
    await sleep(1000);
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${s.pid}/status`, 'utf8'))?.[1]);
    readings.push(kb / 1024);
    await stop(s.child, 'SIGTERM', 10_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(`idle RSS MB: ${readings.map((r) => r.toFixed(1)).join(', ')}`);
