// The machine a run was made on, whether it was quiet, and which build of soakp ran.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { nginxVersion } from './nginx.mjs';
import { foreignSeconds } from './proc.mjs';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');

const sh = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    return String(err.stdout ?? '').trim() || null; // `wrk -v` exits 1 after printing its version
  }
};

/** CPU, memory, kernel, Node, nginx and wrk versions, git commit. */
export async function machineInfo() {
  const model = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m)?.[1] ?? cpus()[0]?.model;
  return {
    nproc: Number(sh('nproc', ['--all'])) || cpus().length, cpuModel: model, kernel: release(), memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version, nginx: await nginxVersion(), wrk: sh('wrk', ['-v'])?.split('\n')[0].split(' ').slice(0, 2).join(' ') ?? null,
    loadavgAtEnd: loadavg().map((x) => Number(x.toFixed(2))), commit: sh('git', ['rev-parse', '--short', 'HEAD']), dirty: Boolean(sh('git', ['status', '--porcelain', '--', 'src'])),
  };
}

/** Waits (at most `maxS` s) until the rest of the machine uses under `limit` cores; returns the last reading, in cores. */
export async function waitForQuiet(maxS, limit = 0.1) {
  let used = 0;
  for (let waited = 0; waited <= maxS; waited += 2) {
    const a = foreignSeconds();
    await sleep(2000);
    used = (foreignSeconds() - a) / 2;
    if (used < limit) break;
    console.error(`the machine is busy (other processes use ${used.toFixed(2)} cores); waiting up to ${maxS - waited} s more …`);
  }
  return used;
}

/** Identifies the build that runs: a hash of dist/**\/*.js. */
export function distHash() {
  const h = createHash('sha256');
  const files = readdirSync(DIST, { recursive: true }).filter((f) => f.endsWith('.js')).sort();
  for (const f of files) h.update(f).update(readFileSync(join(DIST, f)));
  return h.digest('hex').slice(0, 12);
}
