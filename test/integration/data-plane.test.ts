import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { SPEECH_BYTES } from '../helpers/fake-routes.js';
import { type FakeUpstream, Gate, sha256, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

describe('the data plane: every body type, streamed, faithfully', () => {
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let temp: ReturnType<typeof tempDir>;
  let token: string;
  const key = canaryKey();

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    const config = join(temp.dir, 'soakp.yaml');
    // Short upstream timeouts and a small body limit, so those paths can be shown quickly.
    writeFileSync(config, 'timeouts:\n  firstByte: 2s\nlimits:\n  maxBodySize: 1mb\n');
    soakp = await Soakp.open({ config, dataDir: temp.dir, upstreamUrl: upstream.baseUrl, logLevel: 'silent', env: { SOAKP_MASTER_KEY: randomMasterKey() } });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    token = await soakp.saveKey(key, { email: 'alice@example.com' });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  const client = () => new OpenAI({ apiKey: token, baseURL: `${server.url}/v1`, maxRetries: 0 });
  const last = () => upstream.requests.at(-1);

  it('streams SSE event by event: the client has the first event before the upstream sends the second', async () => {
    const gate = new Gate();
    upstream.controls.sseGate = gate;
    try {
      const stream = await client().chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], stream: true });
      const texts: string[] = [];
      for await (const chunk of stream) {
        texts.push(chunk.choices[0]?.delta.content ?? '');
        // Only now may the upstream go on: had the proxy buffered, this loop would never get here.
        if (texts.length === 1) gate.open();
      }
      expect(texts.join('')).toBe('Hello world');
    } finally {
      upstream.controls.sseGate = undefined;
    }
    expect(last()?.headers.authorization).toBe(`Bearer ${key}`);
  });

  it('passes SSE bytes through exactly, [DONE] included', async () => {
    const body = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'x' }] });
    const res = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text();
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(text.split('\n\n').filter(Boolean)).toHaveLength(6);
  });

  it('uploads multipart audio byte for byte and returns the transcription', async () => {
    const audio = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) % 256));
    const result = await client().audio.transcriptions.create({ file: await toFile(audio, 'voice.mp3', { type: 'audio/mpeg' }), model: 'whisper-1' });
    expect(result.text).toBe(`received ${last()?.body.length} bytes of multipart/form-data`);
    const received = last()?.body as Buffer;
    expect(received.includes(audio)).toBe(true); // the file part arrived intact inside the multipart body
    expect(String(last()?.headers['content-type'])).toMatch(/^multipart\/form-data; boundary=/);
  });

  it('returns binary speech byte for byte', async () => {
    const res = await client().audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'hello' });
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(sha256(bytes)).toBe(sha256(SPEECH_BYTES));
    expect(res.headers.get('content-type')).toBe('audio/mpeg');
  });

  it('uploads and lists files, generates images, calls responses', async () => {
    const content = Buffer.from('{"prompt":"a","completion":"b"}\n'.repeat(1000));
    const file = await client().files.create({ file: await toFile(content, 'data.jsonl'), purpose: 'fine-tune' });
    expect(file.id).toBe('file-abc');
    expect(last()?.body.includes(content)).toBe(true);
    expect((await client().files.list()).data).toEqual([]);
    const image = await client().images.generate({ model: 'gpt-image-1', prompt: 'a cat' });
    expect(Buffer.from(image.data?.[0]?.b64_json ?? '', 'base64').toString()).toBe('png-bytes');
    const response = await client().responses.create({ model: 'gpt-4o-mini', input: 'hi' });
    expect(response.output_text).toBe('responded');
  });

  it('sends the request body byte for byte, invalid UTF-8 and NUL bytes included, and returns the answer untouched', async () => {
    const body = Buffer.concat([Buffer.from('{"model":"x","messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe, 0x00, 0xc3]), Buffer.from('"}]}')]);
    const res = await fetch(`${server.url}/v1/chat/completions?x=1`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
    expect(last()?.sha256).toBe(sha256(body));
    // The fake, like OpenAI, judges the body; its verdict passes through.
    expect([200, 400]).toContain(res.status);
  });

  it('passes malformed JSON and odd content types to the upstream to judge, and its 400 back', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, body: '{"model": ' });
    expect(res.status).toBe(400);
    expect(last()?.body.toString()).toBe('{"model": ');
    expect(last()?.headers['content-type']).toBe('text/plain');
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/could not parse/);
  });

  it('cancels the upstream request at once when the client leaves mid-stream', async () => {
    const gate = new Gate();
    upstream.controls.sseGate = gate;
    const aborted = upstream.aborted();
    try {
      const controller = new AbortController();
      const stream = await client().chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'long' }], stream: true }, { signal: controller.signal });
      for await (const _chunk of stream) {
        controller.abort(); // leave after the first event, while the upstream is still generating
        break;
      }
      await aborted; // resolves only when the upstream saw its connection closed before the end
    } finally {
      gate.open();
      upstream.controls.sseGate = undefined;
    }
  });

  it('adds x-request-id and Server-Timing; keeps the upstream request id', async () => {
    const res = await fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.headers.get('x-request-id')).toBe('req_fake_1');
    expect(res.headers.get('server-timing')).toMatch(/^soakp;dur=\d+(\.\d+)?$/);
    const refused = await fetch(`${server.url}/v1/models`);
    expect(refused.headers.get('x-request-id')).toMatch(/^soakp-/);
  });

  it('answers 504 when the upstream does not answer in time, 502 when it is down', async () => {
    const stalled = await fetch(`${server.url}/v1/stall`, { headers: { authorization: `Bearer ${token}` } });
    expect(stalled.status).toBe(504);
    expect(((await stalled.json()) as { error: { code: string } }).error.code).toBe('upstream_timeout');
  });

  it('never follows a redirect: the other host gets no request and no key', async () => {
    let stolen = 0;
    const thief = createServer((_req, res) => {
      stolen += 1;
      res.end('{}');
    });
    await new Promise<void>((r) => thief.listen(0, '127.0.0.1', r));
    try {
      const location = `http://127.0.0.1:${(thief.address() as AddressInfo).port}/steal`;
      const res = await fetch(`${server.url}/v1/redirect`, { headers: { authorization: `Bearer ${token}`, 'x-test-location': location }, redirect: 'manual' });
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toBe(location);
      expect(stolen).toBe(0);
    } finally {
      await new Promise((r) => thief.close(r));
    }
  });

  it('refuses bodies over the limit with 413, declared or streamed, before the upstream sees them whole', async () => {
    const before = upstream.requests.length;
    const big = Buffer.alloc(2 * 1024 * 1024, 0x61);
    const declared = await fetch(`${server.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' }, body: big });
    expect(declared.status).toBe(413);
    expect(((await declared.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    expect(upstream.requests.length).toBe(before);
    const streamed = await fetch(`${server.url}/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: new ReadableStream({
        start(c) {
          for (let i = 0; i < 32; i++) c.enqueue(new Uint8Array(64 * 1024));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect(upstream.requests.slice(before).every((r) => r.body.length <= 1024 * 1024)).toBe(true);
  });
});
