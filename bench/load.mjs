// Load generation. wrk (Debian's `wrk`) in its own process, pinned, with a Lua script for the
// POST body and a JSON summary; without wrk, bench/nodeload.mjs (same output, more CPU per
// request, so less able to saturate a fast proxy). Plus a sequential in-process client that
// times the first SSE event, which wrk cannot.
import { Agent, request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasProgram, spawnPinned } from './proc.mjs';
import { track } from './children.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
// BENCH_LOAD=node forces the fallback (to try it where wrk is installed).
export const HAS_WRK = process.env.BENCH_LOAD !== 'node' && hasProgram('wrk');

export const BODIES = {
  chat: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in one short sentence.' }] }),
  stream: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in one short sentence.' }], stream: true, stream_options: { include_usage: true } }),
  // As the official SDKs send a stream by default: no stream_options, so the answer carries no usage.
  'stream-sdk': JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello in one short sentence.' }], stream: true }),
  embeddings: JSON.stringify({ model: 'text-embedding-3-small', input: 'The quick brown fox jumps over the lazy dog.' }),
};

function luaScript(body, token) {
  return `wrk.method = "POST"
wrk.body = ${JSON.stringify(body)}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${token}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"durationUs":%d,"p50Us":%.0f,"p90Us":%.0f,"p99Us":%.0f,"maxUs":%.0f,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"non2xx":%d,"timeouts":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`;
}

/**
 * One load run against `url`: `connections` at once for `seconds`, from a process pinned to `cpu`.
 * `mode`: keep-alive connections (wrk, over http or https), or a new connection per request
 * (`new`, or over https `resume`: bench/nodeload.mjs, which wrk cannot do); `ca`: the PEM an
 * https `url` is trusted with (wrk does not check certificates).
 * Resolves with { requests, rps, p50Ms, p99Ms, errors, non2xx, tool } and, from nodeload over
 * https, { handshakes, resumed }.
 */
export function runLoad({ url, body, token, connections, seconds, cpu, tmpDir, mode = 'keepalive', ca }) {
  let cmd;
  let args;
  const wrk = HAS_WRK && mode === 'keepalive';
  if (wrk) {
    const script = join(tmpDir, `wrk-${process.pid}-${Math.random().toString(36).slice(2)}.lua`);
    writeFileSync(script, luaScript(body, token));
    cmd = 'wrk';
    args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, url];
  } else {
    cmd = process.execPath;
    args = [join(HERE, 'nodeload.mjs'), JSON.stringify({ url, body, token, connections, seconds, mode, ca })];
  }
  const child = track(spawnPinned(cpu, cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
      if (!line) return reject(new Error(`${cmd} exited ${code} without a summary: ${err || out}`));
      const r = JSON.parse(line.slice(8));
      resolve({
        tool: wrk ? 'wrk' : 'nodeload',
        requests: r.requests,
        rps: r.requests / (r.durationUs / 1e6),
        p50Ms: r.p50Us / 1000,
        p99Ms: r.p99Us / 1000,
        errors: r.connectErrors + r.readErrors + r.writeErrors + r.timeouts,
        non2xx: r.non2xx,
        ...(r.handshakes === undefined ? {} : { handshakes: r.handshakes, resumed: r.resumed }),
      });
    });
  });
}

const agents = new Map();
/**
 * One streaming request on a kept-alive connection: milliseconds from sending the request to
 * the first SSE event (`data:`) and to the end of the answer; rejects on a non-200 answer.
 */
export function timeFirstEvent({ port, token, body = BODIES.stream }) {
  if (!agents.has(port)) agents.set(port, new Agent({ keepAlive: true, maxSockets: 1 }));
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(body);
    const headers = { 'content-type': 'application/json', 'content-length': payload.length, authorization: `Bearer ${token}` };
    const req = request({ host: '127.0.0.1', port, path: '/v1/chat/completions', method: 'POST', headers, agent: agents.get(port) });
    let first = null;
    let start = 0n;
    req.on('response', (res) => {
      if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode} from port ${port}`));
      res.on('data', (d) => {
        if (first === null && d.includes('data:')) first = process.hrtime.bigint();
      });
      res.on('end', () => {
        const end = process.hrtime.bigint();
        if (first === null) return reject(new Error(`no SSE event from port ${port}`));
        resolve({ firstMs: Number(first - start) / 1e6, totalMs: Number(end - start) / 1e6 });
      });
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    start = process.hrtime.bigint();
    req.end(payload);
  });
}

export function closeAgents() {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}
