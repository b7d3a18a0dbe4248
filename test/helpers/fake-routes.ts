import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { FakeControls } from './fake-upstream.js';

/** Deterministic "audio": 64 KiB covering every byte value, so any re-encoding shows. */
export const SPEECH_BYTES = Buffer.from(Array.from({ length: 65_536 }, (_, i) => (i * 7 + 3) % 256));

export const SSE_EVENTS = ['Hel', 'lo', ' wor', 'ld'];

/** The fake's answers, by path. Unknown paths get OpenAI's 404 envelope. */
export async function answer(req: IncomingMessage, res: ServerResponse, body: Buffer, controls: FakeControls): Promise<void> {
  const path = (req.url ?? '').split('?')[0] ?? '';
  res.setHeader('x-request-id', 'req_fake_1');
  res.setHeader('set-cookie', 'tracking=1');
  const parsed = parseJson(body);
  switch (path) {
    case '/v1/models':
      // The upstream's own limits on the stored key: soakp's limits, when it applies some, win.
      res.setHeader('x-ratelimit-limit-requests', '5000');
      return json(res, 200, { object: 'list', data: [{ id: 'gpt-4o-mini', object: 'model', created: 1, owned_by: 'fake' }] });
    case '/v1/chat/completions':
      if (parsed === undefined) return json(res, 400, { error: { message: 'We could not parse the JSON body of your request.', type: 'invalid_request_error', code: null, param: null } });
      if (parsed.stream === true) return sse(res, parsed.model ?? 'gpt-4o-mini', controls, parsed.stream_options?.include_usage === true && !controls.ignoreStreamOptions);
      if (controls.billedUsage) return json(res, 200, { ...chat(parsed.model, 'echo'), usage: await billed(parsed) });
      return json(res, 200, chat(parsed.model, `echo: ${parsed.messages?.at(-1)?.content ?? ''}`));
    case '/v1/embeddings': {
      // The SDK asks for base64 (little-endian float32) unless told otherwise, as OpenAI's API allows.
      const vector = [0.5, 0.25, -1];
      const embedding = parsed?.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
      return json(res, 200, { object: 'list', model: 'text-embedding-3-small', data: [{ object: 'embedding', index: 0, embedding }], usage: { prompt_tokens: 2, total_tokens: 2 } });
    }
    case '/v1/images/generations':
      return json(res, 200, { created: 1, data: [{ b64_json: Buffer.from('png-bytes').toString('base64') }] });
    case '/v1/audio/speech':
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': SPEECH_BYTES.length });
      return void res.end(SPEECH_BYTES);
    case '/v1/audio/transcriptions':
      return json(res, 200, { text: `received ${body.length} bytes of ${String(req.headers['content-type']).split(';')[0]}` });
    case '/v1/files':
      if (req.method === 'POST') return json(res, 200, { id: 'file-abc', object: 'file', bytes: body.length, created_at: 1, filename: 'data.jsonl', purpose: 'fine-tune', status: 'processed' });
      return json(res, 200, { object: 'list', data: [], has_more: false });
    case '/v1/responses':
      return json(res, 200, {
        id: 'resp_1', object: 'response', created_at: 1, status: 'completed', model: parsed?.model ?? 'gpt-4o-mini',
        output: [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'responded', annotations: [] }] }],
        usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 },
      });
    case '/v1/fail':
      return json(res, 429, { error: { message: 'upstream says slow down', type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null } });
    case '/v1/redirect':
      res.writeHead(302, { location: String(req.headers['x-test-location'] ?? 'http://127.0.0.1:9/steal') });
      return void res.end();
    case '/v1/stall':
      return; // never answers: for timeouts
    default:
      return json(res, 404, { error: { message: `fake has no ${path}`, type: 'invalid_request_error', code: 'unknown_url', param: null } });
  }
}

async function sse(res: ServerResponse, model: string, controls: FakeControls, includeUsage = false): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const started = performance.now();
  const pace = controls.ssePaceMs;
  if (pace) controls.sseSent = [];
  for (const [i, text] of SSE_EVENTS.entries()) {
    if (controls.sseGate && i >= (controls.sseGateFrom ?? 1)) await controls.sseGate.opened;
    // Paced: the scenario's own timing (when a model would send the event), not synchronisation.
    if (pace?.[i] !== undefined) await delay(Math.max(0, started + pace[i] - performance.now()));
    if (res.destroyed) return;
    res.write(`data: ${JSON.stringify(chunk(model, i, { content: text }, null, includeUsage))}\n\n`);
    if (pace) controls.sseSent?.push(performance.timeOrigin + performance.now());
  }
  res.write(`data: ${JSON.stringify(chunk(model, SSE_EVENTS.length, {}, 'stop', includeUsage))}\n\n`);
  // As OpenAI does with stream_options.include_usage: "usage":null in every chunk, and a last chunk with no choices and the usage.
  if (includeUsage) res.write(`data: ${JSON.stringify({ id: 'chatcmpl-sse', object: 'chat.completion.chunk', created: 1, model, choices: [], usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 } })}\n\n`);
  res.end('data: [DONE]\n\n');
}

function chunk(model: string, index: number, delta: Record<string, string>, finish: string | null, withUsage = false) {
  return { id: 'chatcmpl-sse', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }], n: index, ...(withUsage ? { usage: null } : {}) };
}

function chat(model: string | undefined, content: string) {
  return {
    id: 'chatcmpl-fake', object: 'chat.completion', created: 1, model: model ?? 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop', logprobs: null }],
    usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
  };
}

/** Usage as OpenAI bills a chat request (its cookbook's count of chat messages); the tokenizer is loaded only here. */
async function billed(parsed: Parsed) {
  const { countTokens } = await import('gpt-tokenizer/encoding/o200k_base');
  let prompt = 3; // the reply's priming
  for (const m of parsed.messages ?? []) {
    prompt += 3;
    for (const [key, value] of Object.entries(m)) if (typeof value === 'string') prompt += countTokens(value) + (key === 'name' ? 1 : 0);
  }
  const completion = Math.min(3, parsed.max_tokens ?? 3);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

interface Parsed {
  model?: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  encoding_format?: string;
  max_tokens?: number;
  messages?: Array<{ content?: string }>;
}

function parseJson(body: Buffer): Parsed | undefined {
  try {
    return body.length === 0 ? {} : (JSON.parse(body.toString('utf8')) as Parsed);
  } catch {
    return undefined;
  }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
