// Fallback load generator when wrk is not installed: `connections` keep-alive connections,
// each sending the next request as soon as the last answer ended, for `seconds`. Prints the
// same `WRKJSON {...}` summary line as the wrk Lua script. Slower than wrk per request.
// Run: node bench/nodeload.mjs '{"url","body","token","connections","seconds"}'
import { Agent, request } from 'node:http';

const { url, body, token, connections, seconds } = JSON.parse(process.argv[2]);
const target = new URL(url);
const payload = Buffer.from(body);
const agent = new Agent({ keepAlive: true, maxSockets: connections });
const headers = { 'content-type': 'application/json', 'content-length': payload.length, authorization: `Bearer ${token}` };
const latencies = [];
const counts = { non2xx: 0, errors: 0, timeouts: 0 };
const startedAt = process.hrtime.bigint();
const endAt = startedAt + BigInt(Math.round(seconds * 1e9));

function once() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers, agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => {
        if (res.statusCode < 200 || res.statusCode > 399) counts.non2xx++;
        latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
        resolve();
      });
    });
    req.setTimeout(10_000, () => {
      counts.timeouts++;
      req.destroy();
    });
    req.on('error', () => {
      counts.errors++;
      resolve();
    });
    req.end(payload);
  });
}

async function loop() {
  // Bounded by time; each request is bounded by its 10 s timeout.
  while (process.hrtime.bigint() < endAt) await once();
}

await Promise.all(Array.from({ length: connections }, loop));
const durationUs = Number(process.hrtime.bigint() - startedAt) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] : 0);
const summary = {
  requests: latencies.length, durationUs, p50Us: pct(50), p90Us: pct(90), p99Us: pct(99), maxUs: latencies.at(-1) ?? 0,
  connectErrors: counts.errors, readErrors: 0, writeErrors: 0, non2xx: counts.non2xx, timeouts: counts.timeouts,
};
process.stdout.write(`WRKJSON ${JSON.stringify(summary)}\n`);
agent.destroy();
