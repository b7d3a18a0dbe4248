// Fallback load generator when wrk is not installed: `connections` keep-alive connections,
// each sending the next request as soon as the last answer ended, for `seconds`. Prints the
// same `WRKJSON {...}` summary line as the wrk Lua script. Slower than wrk per request.
// Also the load for what wrk cannot do, a new connection per request (`mode`):
//   keepalive (the default)  keep-alive connections, as above
//   new                      a new connection per request (`Connection: close`); over https a
//                            full handshake each time (no session kept)
//   resume                   over https: a new connection per request that resumes the last
//                            session the server gave (TLS 1.3 session ticket), as an https.Agent
//                            with a session cache does
// Over https it trusts `ca` (PEM) and adds to the summary how many TLS connections it made
// ("handshakes") and how many of them resumed a session ("resumed", socket.isSessionReused()).
// Run: node bench/nodeload.mjs '{"url","body","token","connections","seconds","mode"?,"ca"?}'
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

const { url, body, token, connections, seconds, mode = 'keepalive', ca } = JSON.parse(process.argv[2]);
const target = new URL(url);
const secure = target.protocol === 'https:';
if (!['keepalive', 'new', 'resume'].includes(mode) || (mode === 'resume' && !secure)) throw new Error(`mode ${mode} is keepalive, new or (over https) resume`);
const payload = Buffer.from(body);
const keepAlive = mode === 'keepalive';
// The loops below bound the connections. With keepAlive off, a finite maxSockets would still
// make node:http keep a connection open for a queued request (and send no `Connection: close`).
const maxSockets = keepAlive ? connections : Infinity;
const agent = secure
  ? new HttpsAgent({ keepAlive, maxSockets, ca, maxCachedSessions: mode === 'resume' ? 1 : 0 })
  : new HttpAgent({ keepAlive, maxSockets });
const request = secure ? httpsRequest : httpRequest;
const headers = { 'content-type': 'application/json', 'content-length': payload.length, authorization: `Bearer ${token}` };
const latencies = [];
const counts = { non2xx: 0, errors: 0, timeouts: 0, handshakes: 0, resumed: 0 };
const seen = new WeakSet();
const startedAt = process.hrtime.bigint();
const endAt = startedAt + BigInt(Math.round(seconds * 1e9));

function once() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers, agent }, (res) => {
      if (secure && !seen.has(res.socket)) {
        seen.add(res.socket);
        counts.handshakes++;
        if (res.socket.isSessionReused()) counts.resumed++;
      }
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
  ...(secure ? { handshakes: counts.handshakes, resumed: counts.resumed } : {}),
};
process.stdout.write(`WRKJSON ${JSON.stringify(summary)}\n`);
agent.destroy();
