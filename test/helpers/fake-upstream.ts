import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  sha256: string;
}

export interface FakeUpstream {
  /** Base URL to configure as the upstream, e.g. http://127.0.0.1:1234/v1 */
  readonly baseUrl: string;
  readonly requests: Recorded[];
  /** Holds the next answers until `release()` is called (to test in-flight shutdown). */
  hold(): void;
  release(): void;
  /** Resolves when the fake has received `n` requests in all. */
  received(n: number): Promise<void>;
  close(): Promise<void>;
}

/** A small OpenAI look-alike on 127.0.0.1 that records what reaches it. */
export async function startFakeUpstream(): Promise<FakeUpstream> {
  const requests: Recorded[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  let held: Array<() => void> | null = null;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, sha256: createHash('sha256').update(body).digest('hex') });
    for (const w of waiters.filter((w) => requests.length >= w.n)) w.resolve();
    const answer = () => respond(req, res, body);
    if (held) held.push(answer);
    else answer();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    hold: () => {
      held = [];
    },
    release: () => {
      const pending = held ?? [];
      held = null;
      for (const answer of pending) answer();
    },
    received: (n) => (requests.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function respond(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  const path = (req.url ?? '').split('?')[0];
  res.setHeader('x-request-id', 'req_fake_1');
  res.setHeader('set-cookie', 'tracking=1');
  if (path === '/v1/models') return json(res, 200, { object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1, owned_by: 'fake' }] });
  if (path === '/v1/chat/completions') {
    const parsed = JSON.parse(body.toString('utf8') || '{}') as { model?: string; messages?: Array<{ content?: string }> };
    return json(res, 200, {
      id: 'chatcmpl-fake', object: 'chat.completion', created: 1, model: parsed.model ?? 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: `echo: ${parsed.messages?.at(-1)?.content ?? ''}` }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
    });
  }
  if (path === '/v1/embeddings') {
    // The SDK asks for base64 (little-endian float32) unless told otherwise, as OpenAI's API allows.
    const { encoding_format: format } = JSON.parse(body.toString('utf8') || '{}') as { encoding_format?: string };
    const vector = [0.5, 0.25, -1];
    const embedding = format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
    return json(res, 200, { object: 'list', model: 'text-embedding-3-small', data: [{ object: 'embedding', index: 0, embedding }], usage: { prompt_tokens: 2, total_tokens: 2 } });
  }
  if (path === '/v1/fail') return json(res, 429, { error: { message: 'upstream says slow down', type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null } });
  return json(res, 404, { error: { message: `fake has no ${path}`, type: 'invalid_request_error', code: 'unknown_url', param: null } });
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
