/**
 * Conformance: soakp in front of a Prism mock built from OpenAI's published OpenAPI description
 * (../shared/openai-openapi.yaml beside the repository; the suite is skipped, with a message,
 * where it is absent). Every request is sent twice — straight to Prism with the stored key,
 * and through soakp with the personal token — and the two answers must match: status, body
 * byte for byte, and every end-to-end header (soakp may add only its own `x-request-id`, where
 * the upstream sent none, and `Server-Timing`). Prism checks the spec's bearer security, so a
 * 2xx through soakp also shows the token was swapped for the key.
 *
 * Families walked (valid → Prism's 2xx; invalid → Prism's 4xx passed through untouched):
 *   models              list, retrieve, delete (SDK + fetch); invalid: PUT → 405
 *   chat completions    create, list (SDK + fetch); invalid: bad JSON → 400, text/plain → 415, ?limit=abc → 422
 *   completions         create (SDK + fetch); invalid: bad JSON → 400
 *   embeddings          create (SDK + fetch); invalid: no model → 422 (also via the SDK)
 *   moderations         create (SDK + fetch); invalid: text/plain → 415
 *   images              generations (SDK + fetch), edits (multipart); invalid: bad JSON → 400
 *   audio               speech (binary), transcriptions + translations (multipart upload);
 *                       invalid: speech without voice → 422, transcription without file → 422
 *   files               list, upload (multipart), retrieve, content, delete; invalid: bad purpose → 422, ?limit=abc → 422
 *   batches             create, list, retrieve, cancel; invalid: unknown endpoint → 422
 *   fine-tuning         jobs list, create, retrieve, events; invalid: no training_file → 422
 *   vector stores       create, list, retrieve, search, delete; invalid: name: 5 → 422
 *   assistants/threads  assistants list + create, threads create, messages create, runs create; invalid: {} → 422, role "bot" → 422
 *   responses           create (with Prism's ~8.4 KB `sl-violations` header), retrieve; invalid: model: 5 → 422
 *   uploads             create, parts (multipart), complete, cancel; invalid: no purpose → 422
 *   spec-declared error  Prefer: code=429 on /assistants → 429 + Retry-After (and the SDK's RateLimitError)
 *   every operation     a sweep of all 288 operations on the spec's 182 paths (incl. containers, conversations,
 *                       evals, realtime, videos, skills, chatkit, organization/admin), path parameters filled
 *                       in and `{}` (or a one-field form) as the body: same answer either way, whatever
 *                       Prism says (on this spec: 203 × 2xx, 3 × 400, 82 × 422)
 *
 * Not covered here: streaming (Prism cannot send SSE; test/integration uses its own fake).
 * Prism does not validate the bodies of chat/completions, completions, images and moderations
 * (it cannot compile their schemas), so their invalid cases are transport-level (JSON, media type).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';
import { type DerivedSpec, type Prism, deriveSpec, freePort, locateOpenApiSpec, startPrism, writeSpec } from './prism.js';

const spec = locateOpenApiSpec();
if (!spec.found) {
  console.warn(`[conformance] SKIPPED: OpenAI's OpenAPI description was not found at ${spec.path} (expected ../shared/ beside the repository).`);
}

const PRISM_READY_MS = 90_000;

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

interface Exchange {
  direct: Answer;
  proxied: Answer;
}

interface Call {
  /** A JSON value to send as the body, or raw text (sent with `contentType`). */
  json?: unknown;
  text?: string;
  contentType?: string;
  /** Built afresh for each of the two requests (a FormData is consumed by sending it). */
  form?: () => FormData;
  headers?: Record<string, string>;
}

// Framing and per-connection headers, which each hop sets for itself, and the clock.
const PER_HOP = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);
// What soakp adds of its own: its request id (only where the upstream sent none) and Server-Timing.
const SOAKP_OWN = new Set(['x-request-id', 'server-timing']);
// The upstream's CORS headers (Prism sends `*` with credentials) never reach a browser: soakp answers CORS itself.
const UPSTREAM_CORS = /^access-control-/;

/**
 * Prism's end-to-end headers as soakp should pass them on: each one present with the same
 * value, and nothing added but soakp's own. Returns what differs (empty when all is well).
 */
function headerDifferences(direct: Record<string, string>, proxied: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(direct)) {
    if (PER_HOP.has(name)) continue;
    if (UPSTREAM_CORS.test(name)) {
      if (name in proxied) out.push(`${name}: the upstream's CORS header passed through soakp`);
      continue;
    }
    if (proxied[name] !== value) out.push(`${name}: ${JSON.stringify(proxied[name])} through soakp, ${JSON.stringify(value)} from Prism`);
  }
  for (const name of Object.keys(proxied)) {
    if (!PER_HOP.has(name) && !SOAKP_OWN.has(name) && !(name in direct)) out.push(`${name}: added by soakp`);
  }
  return out;
}

function isJson(answer: Answer): boolean {
  return /[/+]json\b/i.test(answer.headers['content-type'] ?? '');
}

describe.skipIf(!spec.found)(`soakp in front of a Prism mock of ${spec.found ? 'the OpenAI OpenAPI description' : 'the OpenAI OpenAPI description (SKIPPED: spec not found)'}`, { timeout: 60_000 }, () => {
  let specDir: string;
  let derived: DerivedSpec;
  let prism: Prism | undefined;
  let soakp: Soakp | undefined;
  let server: RunningServer | undefined;
  let temp: ReturnType<typeof tempDir> | undefined;
  const key = canaryKey();
  let token: string;

  beforeAll(async () => {
    const started = Date.now();
    specDir = mkdtempSync(join(tmpdir(), 'soakp-prism-'));
    derived = deriveSpec(spec.path);
    // A free port can be taken before Prism binds it: then Prism exits, and one more try follows.
    for (let attempt = 1; !prism; attempt++) {
      const port = await freePort();
      const file = writeSpec(derived, specDir, `http://127.0.0.1:${port}`);
      const deadlineMs = PRISM_READY_MS - (Date.now() - started);
      prism = await startPrism(file, port, { deadlineMs, probePath: '/v1/models' }).catch((err: unknown) => {
        if (attempt >= 2 || !/EADDRINUSE/.test(String(err))) throw err;
        return undefined;
      });
    }
    temp = tempDir();
    soakp = await Soakp.open({ dataDir: temp.dir, upstreamUrl: `${prism.origin}/v1`, logLevel: 'silent', env: { SOAKP_MASTER_KEY: randomMasterKey() } });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    token = await soakp.saveKey(key, { email: 'conformance@example.com' });
  }, PRISM_READY_MS + 40_000);

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await prism?.stop();
    temp?.cleanup();
    if (specDir) rmSync(specDir, { recursive: true, force: true });
  }, 20_000);

  const sdk = () => new OpenAI({ apiKey: token, baseURL: `${server!.url}/v1`, maxRetries: 0 });

  async function send(url: string, bearer: string, method: string, call: Call): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${bearer}`, ...call.headers };
    let body: string | FormData | undefined;
    if (call.form) body = call.form();
    else if (call.text !== undefined) {
      body = call.text;
      headers['content-type'] = call.contentType ?? 'application/json';
    } else if (call.json !== undefined) {
      body = JSON.stringify(call.json);
      headers['content-type'] = call.contentType ?? 'application/json';
    }
    const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(20_000) });
    const out: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      out[name] = value;
    });
    return { status: res.status, headers: out, body: Buffer.from(await res.arrayBuffer()) };
  }

  /** The same request straight to Prism (with the key) and through soakp (with the token). */
  async function exchange(method: string, path: string, call: Call = {}): Promise<Exchange> {
    const direct = await send(`${prism!.origin}${path}`, key, method, call);
    const proxied = await send(`${server!.url}${path}`, token, method, call);
    return { direct, proxied };
  }

  /** Asserts soakp passed Prism's answer through untouched; returns the parsed body. */
  async function passesThrough(method: string, path: string, status: number, call: Call = {}): Promise<{ answer: Answer; json: unknown }> {
    const { direct, proxied } = await exchange(method, path, call);
    const what = `${method} ${path}`;
    expect(direct.status, `${what}: Prism's own answer`).toBe(status);
    expect(proxied.status, `${what} through soakp`).toBe(status);
    expect(proxied.body.toString('latin1'), `${what}: body through soakp`).toBe(direct.body.toString('latin1'));
    expect(headerDifferences(direct.headers, proxied.headers), `${what}: headers through soakp`).toEqual([]);
    const json = isJson(proxied) ? (JSON.parse(proxied.body.toString('utf8')) as unknown) : undefined;
    if (/problem\+json/.test(proxied.headers['content-type'] ?? '')) {
      // Prism's own errors are RFC 9457 problem documents (soakp's are OpenAI envelopes).
      expect(json, `${what}: Prism's problem document`).toMatchObject({ status });
    }
    return { answer: proxied, json };
  }

  const form = (fields: Record<string, string | { bytes: Buffer; name: string; type: string }>) => () => {
    const f = new FormData();
    for (const [name, value] of Object.entries(fields)) {
      if (typeof value === 'string') f.append(name, value);
      else f.append(name, new Blob([value.bytes], { type: value.type }), value.name);
    }
    return f;
  };
  const wav = { bytes: Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt fake audio', 'latin1'), name: 'hello.wav', type: 'audio/wav' };
  const jsonl = { bytes: Buffer.from('{"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{}}\n'), name: 'batch.jsonl', type: 'application/jsonl' };
  const png = { bytes: Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), name: 'cat.png', type: 'image/png' };

  it('derived a /v1 copy of the spec and serves it from Prism', () => {
    expect(derived.operations.length).toBeGreaterThanOrEqual(182);
    expect(derived.operations.every((op) => op.path.startsWith('/v1/'))).toBe(true);
    expect(derived.droppedTransferEncoding).toBeGreaterThanOrEqual(1);
  });

  it('authenticates before Prism sees anything, and Prism accepts the swapped-in key', async () => {
    const noToken = await fetch(`${server!.url}/v1/models`);
    expect(noToken.status).toBe(401);
    expect(noToken.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await noToken.json()) as { error: { type: string } }).error.type).toBe('authentication_error');
    // Prism itself answers a request without credentials with its own 401 problem document…
    const bare = await fetch(`${prism!.origin}/v1/models`);
    expect(bare.status).toBe(401);
    expect(bare.headers.get('content-type')).toBe('application/problem+json');
    await bare.arrayBuffer();
    // …so a 200 through soakp means the key went up as a bearer token.
    await passesThrough('GET', '/v1/models', 200);
  });

  it('models: list, retrieve, delete; PUT → 405', async () => {
    const { json } = await passesThrough('GET', '/v1/models', 200);
    expect(json).toMatchObject({ object: 'list' });
    await passesThrough('GET', '/v1/models/gpt-4o-mini', 200);
    await passesThrough('DELETE', '/v1/models/ft:gpt-4o-mini:acme::abc123', 200);
    await passesThrough('PUT', '/v1/models', 405);
    const models = await sdk().models.list();
    expect(models.data[0]?.object).toBe('model');
    expect((await sdk().models.retrieve('gpt-4o-mini')).object).toBe('model');
  });

  it('chat completions: create, list; bad JSON → 400, text/plain → 415, bad query → 422', async () => {
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] };
    const { json } = await passesThrough('POST', '/v1/chat/completions', 200, { json: body });
    expect(json).toMatchObject({ object: 'chat.completion' });
    await passesThrough('GET', '/v1/chat/completions', 200);
    await passesThrough('POST', '/v1/chat/completions', 400, { text: '{"model": "gpt-4o-mini", ' });
    await passesThrough('POST', '/v1/chat/completions', 415, { text: 'hello', contentType: 'text/plain' });
    await passesThrough('GET', '/v1/chat/completions?limit=abc', 422);
    const answer = await sdk().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
    expect(answer.choices[0]?.message.role).toBe('assistant');
  });

  it('completions: create; bad JSON → 400', async () => {
    await passesThrough('POST', '/v1/completions', 200, { json: { model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi' } });
    await passesThrough('POST', '/v1/completions', 400, { text: '{"prompt":' });
    const answer = await sdk().completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi' });
    expect(answer.choices[0]?.finish_reason).toBe('stop');
  });

  it('embeddings: create; missing model → 422', async () => {
    const { json } = await passesThrough('POST', '/v1/embeddings', 200, { json: { model: 'text-embedding-3-small', input: 'hi' } });
    expect(json).toMatchObject({ object: 'list' });
    const { json: problem } = await passesThrough('POST', '/v1/embeddings', 422, { json: { input: 'hi' } });
    expect(JSON.stringify(problem)).toContain("required property 'model'");
    const emb = await sdk().embeddings.create({ model: 'text-embedding-3-small', input: 'hi', encoding_format: 'float' });
    expect(Array.isArray(emb.data[0]?.embedding)).toBe(true);
    const err = await sdk().embeddings.create({ input: 'hi', encoding_format: 'float' } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.UnprocessableEntityError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(422);
  });

  it('moderations: create; text/plain → 415', async () => {
    await passesThrough('POST', '/v1/moderations', 200, { json: { input: 'hello' } });
    await passesThrough('POST', '/v1/moderations', 415, { text: 'hello', contentType: 'text/plain' });
    const answer = await sdk().moderations.create({ input: 'hello' });
    expect(typeof answer.results[0]?.flagged).toBe('boolean');
  });

  it('images: generations, edits (multipart); bad JSON → 400', async () => {
    await passesThrough('POST', '/v1/images/generations', 200, { json: { model: 'gpt-image-1', prompt: 'a cat' } });
    await passesThrough('POST', '/v1/images/edits', 200, { form: form({ model: 'gpt-image-1', prompt: 'add a hat', image: png }) });
    await passesThrough('POST', '/v1/images/generations', 400, { text: '{"prompt": "a cat"' });
    const answer = await sdk().images.generate({ model: 'gpt-image-1', prompt: 'a cat' });
    expect(answer.data?.length).toBeGreaterThan(0);
  });

  it('audio: speech returns binary, transcriptions and translations take a multipart upload; invalid → 422', async () => {
    const speech = await passesThrough('POST', '/v1/audio/speech', 200, { json: { model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'hello' } });
    expect(speech.answer.headers['content-type']).toBe('application/octet-stream');
    expect(speech.answer.body.length).toBeGreaterThan(0);
    await passesThrough('POST', '/v1/audio/speech', 422, { json: { model: 'gpt-4o-mini-tts', input: 'hello' } });
    const { json } = await passesThrough('POST', '/v1/audio/transcriptions', 200, { form: form({ model: 'whisper-1', file: wav }) });
    expect(json).toHaveProperty('text');
    await passesThrough('POST', '/v1/audio/translations', 200, { form: form({ model: 'whisper-1', file: wav }) });
    await passesThrough('POST', '/v1/audio/transcriptions', 422, { form: form({ model: 'whisper-1' }) });

    const audio = await sdk().audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'hello' });
    expect(Buffer.from(await audio.arrayBuffer()).equals(speech.answer.body)).toBe(true);
    const text = await sdk().audio.transcriptions.create({ model: 'whisper-1', file: await toFile(wav.bytes, wav.name, { type: wav.type }) });
    expect(typeof text.text).toBe('string');
  });

  it('files: list, upload (multipart), retrieve, content, delete; invalid → 422', async () => {
    const { json } = await passesThrough('GET', '/v1/files', 200);
    expect(json).toMatchObject({ object: 'list' });
    await passesThrough('POST', '/v1/files', 200, { form: form({ purpose: 'batch', file: jsonl }) });
    await passesThrough('GET', '/v1/files/file-abc123', 200);
    await passesThrough('GET', '/v1/files/file-abc123/content', 200);
    await passesThrough('DELETE', '/v1/files/file-abc123', 200);
    await passesThrough('POST', '/v1/files', 422, { form: form({ purpose: 'nonsense', file: jsonl }) });
    await passesThrough('GET', '/v1/files?limit=abc', 422);

    const client = sdk();
    const uploaded = await client.files.create({ purpose: 'batch', file: await toFile(jsonl.bytes, jsonl.name, { type: jsonl.type }) });
    expect(uploaded.object).toBe('file');
    expect((await client.files.list()).data[0]?.object).toBe('file');
    expect((await client.files.retrieve('file-abc123')).object).toBe('file');
    expect((await client.files.delete('file-abc123')).deleted).toBe(true);
  });

  it('batches: create, list, retrieve, cancel; unknown endpoint → 422', async () => {
    const body = { input_file_id: 'file-abc123', endpoint: '/v1/chat/completions', completion_window: '24h' };
    await passesThrough('POST', '/v1/batches', 200, { json: body });
    await passesThrough('GET', '/v1/batches', 200);
    await passesThrough('GET', '/v1/batches/batch_abc123', 200);
    await passesThrough('POST', '/v1/batches/batch_abc123/cancel', 200);
    await passesThrough('POST', '/v1/batches', 422, { json: { ...body, endpoint: '/v1/nope' } });
    const batch = await sdk().batches.create(body as OpenAI.BatchCreateParams);
    expect(batch.object).toBe('batch');
    expect((await sdk().batches.list()).data[0]?.object).toBe('batch');
  });

  it('fine-tuning: jobs list, create, retrieve, events; missing training_file → 422', async () => {
    const { json } = await passesThrough('GET', '/v1/fine_tuning/jobs', 200);
    expect(json).toMatchObject({ object: 'list' });
    await passesThrough('POST', '/v1/fine_tuning/jobs', 200, { json: { model: 'gpt-4o-mini', training_file: 'file-abc123' } });
    await passesThrough('GET', '/v1/fine_tuning/jobs/ftjob-abc123', 200);
    await passesThrough('GET', '/v1/fine_tuning/jobs/ftjob-abc123/events', 200);
    await passesThrough('POST', '/v1/fine_tuning/jobs', 422, { json: { model: 'gpt-4o-mini' } });
    const jobs = await sdk().fineTuning.jobs.list();
    expect(jobs.data[0]?.object).toBe('fine_tuning.job');
  });

  it('vector stores: create, list, retrieve, search, delete; bad name → 422', async () => {
    await passesThrough('POST', '/v1/vector_stores', 200, { json: { name: 'docs' } });
    await passesThrough('GET', '/v1/vector_stores', 200);
    await passesThrough('GET', '/v1/vector_stores/vs_abc123', 200);
    await passesThrough('POST', '/v1/vector_stores/vs_abc123/search', 200, { json: { query: 'refunds' } });
    await passesThrough('DELETE', '/v1/vector_stores/vs_abc123', 200);
    await passesThrough('POST', '/v1/vector_stores', 422, { json: { name: 5 } });
    await passesThrough('POST', '/v1/vector_stores/vs_abc123/search', 422, { json: {} });
    const client = sdk();
    expect((await client.vectorStores.create({ name: 'docs' })).object).toBe('vector_store');
    expect((await client.vectorStores.list()).data[0]?.object).toBe('vector_store');
    expect((await client.vectorStores.delete('vs_abc123')).deleted).toBe(true);
  });

  it('assistants and threads: assistants list/create, thread, message, run; invalid → 422', async () => {
    const beta = { 'openai-beta': 'assistants=v2' };
    await passesThrough('GET', '/v1/assistants', 200, { headers: beta });
    await passesThrough('POST', '/v1/assistants', 200, { json: { model: 'gpt-4o' }, headers: beta });
    await passesThrough('POST', '/v1/assistants', 422, { json: {}, headers: beta });
    await passesThrough('POST', '/v1/threads', 200, { json: {}, headers: beta });
    await passesThrough('POST', '/v1/threads/thread_abc123/messages', 200, { json: { role: 'user', content: 'hi' }, headers: beta });
    await passesThrough('POST', '/v1/threads/thread_abc123/messages', 422, { json: { role: 'bot', content: 'hi' }, headers: beta });
    await passesThrough('POST', '/v1/threads/thread_abc123/runs', 200, { json: { assistant_id: 'asst_abc123' }, headers: beta });
    const client = sdk();
    expect((await client.beta.assistants.create({ model: 'gpt-4o' })).object).toBe('assistant');
    expect((await client.beta.threads.create()).object).toBe('thread');
  });

  it('a spec-declared upstream error (Prefer: code=429) passes through with its Retry-After', async () => {
    const { answer, json } = await passesThrough('GET', '/v1/assistants', 429, { headers: { prefer: 'code=429' } });
    expect(answer.headers['retry-after']).toBe('1');
    expect(json).toHaveProperty('error');
    const err = await sdk().beta.assistants.list({}, { headers: { prefer: 'code=429' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
  });

  it("responses: create (with Prism's ~8.4 KB sl-violations header), retrieve; invalid → 422", async () => {
    const { answer, json } = await passesThrough('POST', '/v1/responses', 200, { json: { model: 'gpt-4o', input: 'hello' } });
    expect(json).toMatchObject({ object: 'response' });
    expect(answer.headers['sl-violations']?.length ?? 0).toBeGreaterThan(8_000);
    await passesThrough('GET', '/v1/responses/resp_abc123', 200);
    await passesThrough('POST', '/v1/responses', 422, { json: { model: 5 } });
    const response = await sdk().responses.create({ model: 'gpt-4o', input: 'hello' });
    expect(response.object).toBe('response');
  });

  it('uploads: create, add a part (multipart), complete, cancel; invalid → 422', async () => {
    const body = { filename: 'batch.jsonl', purpose: 'batch', bytes: jsonl.bytes.length, mime_type: 'text/jsonl' };
    await passesThrough('POST', '/v1/uploads', 200, { json: body });
    await passesThrough('POST', '/v1/uploads/upload_abc123/parts', 200, { form: form({ data: jsonl }) });
    await passesThrough('POST', '/v1/uploads/upload_abc123/complete', 200, { json: { part_ids: ['part_abc123'] } });
    await passesThrough('POST', '/v1/uploads/upload_abc123/cancel', 200);
    await passesThrough('POST', '/v1/uploads', 422, { json: { filename: 'batch.jsonl' } });
    const client = sdk();
    expect((await client.uploads.create(body as OpenAI.UploadCreateParams)).object).toBe('upload');
    const part = await client.uploads.parts.create('upload_abc123', { data: await toFile(jsonl.bytes, jsonl.name) });
    expect(part.object).toBe('upload.part');
  });

  it('every operation in the spec gets the same answer through soakp as from Prism', async () => {
    const mismatches: string[] = [];
    const statuses = new Map<number, number>();
    for (const op of derived.operations) {
      const path = op.path.replace(/\{[^}]+\}/g, 'abc123');
      const content = ((op.operation.requestBody as { content?: Record<string, unknown> } | undefined)?.content ?? {}) as Record<string, unknown>;
      const call: Call = 'application/json' in content ? { json: {} } : 'multipart/form-data' in content ? { form: form({ purpose: 'batch' }) } : {};
      const { direct, proxied } = await exchange(op.method, path, call);
      statuses.set(direct.status, (statuses.get(direct.status) ?? 0) + 1);
      const what = `${op.method} ${path}`;
      if (proxied.status !== direct.status) mismatches.push(`${what}: status ${proxied.status} through soakp, ${direct.status} from Prism`);
      else if (!proxied.body.equals(direct.body)) mismatches.push(`${what}: bodies differ`);
      else mismatches.push(...headerDifferences(direct.headers, proxied.headers).map((d) => `${what}: ${d}`));
    }
    console.info(`[conformance] swept ${derived.operations.length} operations through soakp; Prism's statuses: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
    expect(mismatches).toEqual([]);
    const ok = [...statuses].filter(([s]) => s >= 200 && s < 300).reduce((n, [, c]) => n + c, 0);
    expect(ok, `statuses seen: ${JSON.stringify(Object.fromEntries(statuses))}`).toBeGreaterThan(derived.operations.length / 2);
  }, 120_000);
});
