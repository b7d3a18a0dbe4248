// soakp as an operator runs it: built dist/, a fresh data directory with the default SQLite
// store, a master key in SOAKP_MASTER_KEY, a user with an upstream key, and a personal token
// carrying a typical policy (model scope, rate limits, a token budget) set high enough that
// nothing is refused, so the policy path runs on every request; and a second token with no
// policy at all, as most clients meet soakp (the stream-sdk scenario). Log level: the default
// (info), one JSON line per request, to a file. With `tls` ({ cert, key, ca }): HTTPS from
// those files (`--tls-cert`, `--tls-key`).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { spawnPinned } from './proc.mjs';
import { track } from './children.mjs';
import { httpsStatus } from './tls-setup.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'soakp.js');

/** The policy on the bench token, as `soakp token issue` options. */
export const POLICY_ARGS = ['--models', 'gpt-4o*,text-embedding-3-*', '--rpm', '1000000', '--tpm', '10000000000', '--token-budget', '1000000000000', '--budget-period', 'month'];

function cli(args, env, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [BIN, ...args, '--json'], { env, cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`soakp ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout));
    });
    child.stdin.end(input ?? '');
  });
}

/**
 * Prepares a data directory and starts `soakp serve` pinned to `cpu`.
 * Resolves with { child, pid, port, token, plainToken, dir, logFile } (`plainToken`: no policy).
 */
export async function startSoakp({ dir, port, upstreamPort, upstreamKey, cpu, nodeArgs = [], extraEnv = {}, tls }) {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  mkdirSync(dir, { recursive: true });
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SOAKP_')));
  Object.assign(env, { SOAKP_MASTER_KEY: randomBytes(32).toString('base64'), SOAKP_DATA_DIR: join(dir, 'data'), ...extraEnv });
  await cli(['user', 'add', 'bench@example.com', '--key-stdin', '--no-token'], env, upstreamKey);
  const { token } = await cli(['token', 'issue', 'bench@example.com', '--name', 'bench', ...POLICY_ARGS], env);
  const { token: plainToken } = await cli(['token', 'issue', 'bench@example.com', '--name', 'plain'], env);
  const logFile = join(dir, 'soakp.log');
  const log = openSync(logFile, 'a');
  const args = [...nodeArgs, BIN, 'serve', '--port', String(port), '--upstream', `http://127.0.0.1:${upstreamPort}/v1`, ...(tls ? ['--tls-cert', tls.cert, '--tls-key', tls.key] : [])];
  const child = track(spawnPinned(cpu, process.execPath, args, { env, cwd: ROOT, stdio: ['ignore', log, log] }));
  for (let i = 0; i < 150; i++) {
    if (child.exitCode !== null) throw new Error(`soakp exited (${child.exitCode}); see ${logFile}`);
    try {
      const status = tls ? await httpsStatus(`https://127.0.0.1:${port}/healthz`, tls.ca) : await fetch(`http://127.0.0.1:${port}/healthz`).then(async (res) => (await res.arrayBuffer(), res.status));
      if (status === 200) return { child, pid: child.pid, port, token, plainToken, dir, logFile };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`soakp did not answer /healthz on port ${port}; see ${logFile}`);
}
