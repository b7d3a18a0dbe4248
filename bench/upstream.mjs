// A fast fake OpenAI upstream on 127.0.0.1 (node:http, keep-alive). It checks the upstream
// key, so a proxy that forwards the wrong credential shows up as non-2xx answers.
//   POST /v1/chat/completions            -> a ~600-byte chat.completion JSON
//   POST /v1/chat/completions stream:true -> 20 SSE chunks + [DONE], one write each; as OpenAI does,
//                                           with stream_options.include_usage every chunk carries
//                                           "usage":null and a usage chunk (choices: []) precedes [DONE]
//   POST /v1/embeddings                  -> a small embedding list
// Run alone: `node bench/upstream.mjs [port]` prints {"port": N} on its first stdout line.
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';

export const UPSTREAM_KEY = 'sk-bench-upstream-0123456789abcdef';
const AUTH = `Bearer ${UPSTREAM_KEY}`;
const created = 1_700_000_000;
const id = 'chatcmpl-bench0123456789abcdefghijklmn';
const usage = { prompt_tokens: 14, completion_tokens: 20, total_tokens: 34 };

const chatJson = Buffer.from(
  JSON.stringify({
    id, object: 'chat.completion', created, model: 'gpt-4o-mini-2024-07-18',
    choices: [{
      index: 0,
      message: {
        role: 'assistant',
        content: 'Hello! This is a fixed answer from the benchmark upstream. It is about as long as a short reply from a real model, so that the proxy copies a realistic body: a few sentences of text, the usage, and the usual fields of a chat completion object.',
        refusal: null, annotations: [],
      },
      logprobs: null, finish_reason: 'stop',
    }],
    usage, service_tier: 'default', system_fingerprint: 'fp_bench0001',
  }),
);
// As OpenAI sends them: with stream_options.include_usage each chunk ends with "usage":null and
// a last chunk carries the usage with no choices; without, there is no usage member at all.
const chunk = (delta, finish, withUsage) =>
  Buffer.from(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: 'gpt-4o-mini-2024-07-18', system_fingerprint: 'fp_bench0001', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...(withUsage ? { usage: null } : {}) })}\n\n`);
function events(withUsage) {
  const list = [chunk({ role: 'assistant', content: '' }, null, withUsage)];
  for (let i = 1; i < 19; i++) list.push(chunk({ content: ` word${i}` }, null, withUsage));
  list.push(chunk({}, 'stop', withUsage));
  if (withUsage) list.push(Buffer.from(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: 'gpt-4o-mini-2024-07-18', system_fingerprint: 'fp_bench0001', choices: [], usage })}\n\n`));
  list.push(Buffer.from('data: [DONE]\n\n'));
  return list;
}
const sseWithUsage = events(true);
const sseWithoutUsage = events(false);
const embeddingJson = Buffer.from(
  JSON.stringify({
    object: 'list',
    data: [{ object: 'embedding', index: 0, embedding: Array.from({ length: 64 }, (_, i) => Number(Math.sin(i).toFixed(6))) }],
    model: 'text-embedding-3-small', usage: { prompt_tokens: 8, total_tokens: 8 },
  }),
);
const bytes = (list) => list.reduce((n, b) => n + b.length, 0);
export const SIZES = { chatJson: chatJson.length, sseChunks: sseWithUsage.length, sseBytes: bytes(sseWithUsage), sseChunksNoUsage: sseWithoutUsage.length, sseBytesNoUsage: bytes(sseWithoutUsage) };

function reply(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'content-type': type, 'content-length': body.length, 'x-request-id': 'req_bench_upstream' });
  res.end(body);
}

function handle(req, res) {
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => {
    if (req.headers.authorization !== AUTH) return reply(res, 401, Buffer.from('{"error":{"message":"bad upstream key","type":"invalid_request_error","code":"invalid_api_key"}}'));
    const url = req.url.split('?', 1)[0];
    if (req.method === 'POST' && url === '/v1/embeddings') return reply(res, 200, embeddingJson);
    if (req.method !== 'POST' || url !== '/v1/chat/completions') return reply(res, 404, Buffer.from('{"error":{"message":"not found"}}'));
    let request;
    try {
      request = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      return reply(res, 400, Buffer.from('{"error":{"message":"bad json"}}'));
    }
    if (request?.stream !== true) return reply(res, 200, chatJson);
    const sseChunks = request.stream_options?.include_usage === true ? sseWithUsage : sseWithoutUsage;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': 'req_bench_upstream' });
    for (const c of sseChunks) res.write(c); // as fast as possible, each chunk its own write
    res.end();
  });
}

/** Starts the upstream; resolves with the server and its port. */
export function startUpstream(port = 0) {
  const server = createServer({ keepAlive: true, keepAliveTimeout: 60_000 }, handle);
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve({ server, port: server.address().port }));
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { port } = await startUpstream(Number(process.argv[2] ?? 0));
  process.stdout.write(`${JSON.stringify({ port, ...SIZES })}\n`);
  process.on('SIGTERM', () => process.exit(0));
}
