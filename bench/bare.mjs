// The floor for a Node proxy: node:http in front of an undici Pool, nothing else. It copies
// method, path and headers (less hop-by-hop ones), swaps the Authorization header for the
// upstream key and streams both ways. No auth check, no logging, no policy.
// Run: `node bench/bare.mjs <upstream origin> <upstream key> [port]`; prints {"port": N}.
// With BENCH_TLS_CERT and BENCH_TLS_KEY (PEM files) in its environment: HTTPS (node:https), as
// soakp serves it (bench/tls.mjs).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Pool } from 'undici';

const [origin, key, portArg] = process.argv.slice(2);
if (!origin || !key) {
  console.error('usage: node bench/bare.mjs <upstream origin> <upstream key> [port]');
  process.exit(2);
}
const pool = new Pool(origin, { connections: 128, keepAliveTimeout: 30_000, pipelining: 1 });
const auth = `Bearer ${key}`;
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);

function requestHeaders(raw) {
  const out = {};
  for (const [k, v] of Object.entries(raw)) if (!HOP.has(k)) out[k] = v;
  out.authorization = auth;
  return out;
}

function responseHeaders(raw) {
  const out = {};
  for (const [k, v] of Object.entries(raw)) if (!HOP.has(k)) out[k] = v;
  return out;
}

const { BENCH_TLS_CERT: certFile, BENCH_TLS_KEY: keyFile } = process.env;
const tls = certFile && keyFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : null;
const options = { keepAlive: true, keepAliveTimeout: 60_000 };
const server = (tls ? createHttpsServer : createServer)(tls ? { ...options, ...tls } : options, (req, res) => {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  // undici's stream(): the answer is written straight into `res`, no intermediate Readable.
  pool.stream(
    { path: req.url, method: req.method, headers: requestHeaders(req.headers), body: hasBody ? req : null, opaque: res },
    ({ statusCode, headers, opaque }) => {
      opaque.writeHead(statusCode, responseHeaders(headers));
      return opaque;
    },
    (err) => {
      if (!err) return;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"upstream unreachable"}}');
    },
  );
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.listen(Number(portArg ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.close().finally(() => process.exit(0));
});
