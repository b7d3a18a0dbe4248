// `npm run bench`: the main comparison (run.mjs), then the HTTPS one (tls.mjs) with the same
// rounds, seconds, warm-up, idle wait, soakp node options and output folder. A focused run
// (--only or --scenarios, which name run.mjs's targets and scenarios) or --no-https skips HTTPS;
// `npm run bench:tls` runs HTTPS alone.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const main = args.filter((a) => a !== '--no-https');
const shared = ['--rounds', '--seconds', '--warmup', '--wait-idle', '--soakp-node', '--out'];
const run = (script, list) => spawnSync(process.execPath, [join(HERE, script), ...list], { stdio: 'inherit' }).status ?? 1;

const status = run('run.mjs', main);
const focused = args.some((a) => a === '--no-https' || /^--(only|scenarios)(=|$)/.test(a));
if (status !== 0 || focused) process.exit(status);
const passed = [];
for (let i = 0; i < main.length; i += 1) {
  const [name] = main[i].split('=');
  if (!shared.includes(name)) continue;
  passed.push(main[i]);
  if (!main[i].includes('=') && i + 1 < main.length) passed.push(main[++i]);
}
process.exit(run('tls.mjs', passed));
