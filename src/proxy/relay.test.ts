import { beforeAll, describe, expect, it } from 'vitest';
import { CUTOFF, DONE, JSON_TYPE, MODEL, SSE, chat, tokens } from '../../test/helpers/metering.js';
import { EXTRA, FakeSink, raw, relayOver, ticks } from '../../test/helpers/relay.js';
import { loadTokenizer } from '../metering/index.js';
import { Collector } from './collect.js';
import { errors } from './undici-core.js';

// The relay driven by hand, as undici drives it: no network. Its ends (the client leaving,
// upstream failures): relay-ends.test.ts. The proxy loads the tokenizer before it meters a stream.
beforeAll(async () => {
  await loadTokenizer();
});

const counted = (...texts: string[]) => ({ promptTokens: 0, completionTokens: tokens(...texts), totalTokens: tokens(...texts), source: 'counted', model: MODEL });

describe('Relay: the head', () => {
  it('skips 1xx interim answers and writes the head once, with soakp’s own and extra headers', () => {
    const sink = new FakeSink();
    const r = relayOver(sink, { own: { 'x-ratelimit-limit-requests': '10' } });
    r.connect();
    expect(r.relay.onHeaders(103, raw('Link', '</a.css>; rel=preload'), r.resume)).toBe(true);
    expect(sink.heads).toHaveLength(0);
    const head = raw('Content-Type', JSON_TYPE, 'X-Request-Id', 'req_up', 'Set-Cookie', 'a=1', 'Strict-Transport-Security', 'max-age=31536000; includeSubDomains; preload', 'Connection', 'keep-alive', 'X-RateLimit-Limit-Requests', '5000');
    expect(r.relay.onHeaders(200, head, r.resume)).toBe(true);
    // The upstream's request id stays (soakp's is added only when it sent none); its rate limits give way to soakp's.
    expect(sink.heads).toEqual([{ status: 200, headers: ['content-type', JSON_TYPE, 'x-request-id', 'req_up', 'x-ratelimit-limit-requests', '10', 'server-timing', EXTRA['server-timing']] }]);
    expect(r.relay.upstreamRequestId).toBe('req_up');
  });

  it('asks the client to close when shutdown has begun, and drops a metered stream’s length', () => {
    const sink = new FakeSink();
    const r = relayOver(sink, { ceiling: 100, closing: true });
    r.connect();
    r.relay.onHeaders(200, raw('content-type', SSE, 'content-length', '999'), r.resume);
    expect(sink.heads[0]?.headers).toEqual(['content-type', SSE, 'x-request-id', EXTRA['x-request-id'], 'server-timing', EXTRA['server-timing'], 'connection', 'close']);
    expect(r.relay.upstreamRequestId).toBeUndefined();
  });
});

describe('Relay: the body', () => {
  it('passes each chunk on as it comes and finishes once, after the answer, with the meter’s observation and the status', async () => {
    const sink = new FakeSink();
    const r = relayOver(sink);
    r.connect();
    r.relay.onHeaders(200, raw('content-type', SSE), r.resume);
    const pieces = ['data: {"model":"' + MODEL + '","choices":[{"delta":{"content":"Hel', 'lo"}}]}\n', '\n', chat(' world') + DONE];
    for (const [i, piece] of pieces.entries()) {
      expect(r.relay.onData(Buffer.from(piece))).toBe(true);
      expect(sink.writes).toEqual(pieces.slice(0, i + 1));
    }
    r.relay.onComplete();
    expect(sink.ended).toBe(1);
    expect(r.finishes).toHaveLength(0); // on the next tick: the answer's bytes leave first
    const { observed, facts } = await r.finished;
    expect(await observed).toEqual(counted('Hello', ' world'));
    const bytes = Buffer.byteLength(pieces.join(''));
    expect(facts).toEqual({ status: 200, durationMs: 7, bytesIn: 3, bytesOut: bytes });
    // Whatever undici still calls after the end changes nothing.
    expect(r.relay.onData(Buffer.from(chat(' late')))).toBe(true);
    r.relay.onComplete();
    r.relay.onError(new Error('late'));
    r.relay.clientClosed();
    await ticks();
    expect(sink.writes).toEqual(pieces);
    expect([sink.ended, sink.destroyed, r.failed.length, r.drains(), r.aborts.length]).toEqual([1, 0, 0, 0, 0]);
    expect(r.finishes).toHaveLength(1);
  });

  it('hands a JSON answer to the collector whole, and finishes with its reported usage', async () => {
    const collector = new Collector();
    const r = relayOver(collector);
    r.connect();
    const answer = JSON.stringify({ model: MODEL, choices: [], usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 } });
    r.relay.onHeaders(201, raw('Content-Type', JSON_TYPE, 'Vary', 'a', 'Vary', 'b'), r.resume);
    for (const piece of [answer.slice(0, 10), answer.slice(10)]) r.relay.onData(Buffer.from(piece));
    r.relay.onComplete();
    const got = await collector.answer;
    expect(got.status).toBe(201);
    expect(got.headers).toMatchObject({ 'content-type': JSON_TYPE, vary: 'a, b', 'x-request-id': EXTRA['x-request-id'] });
    expect(got.body.toString()).toBe(answer);
    const { observed, facts } = await r.finished;
    expect(observed).toEqual({ promptTokens: 4, completionTokens: 2, totalTokens: 6, source: 'reported', model: MODEL });
    expect(facts.status).toBe(201);
  });

  it('waits for a full sink to drain: onData answers false, and resume is called on its drain', () => {
    const sink = new FakeSink();
    const r = relayOver(sink);
    r.connect();
    expect(r.relay.onHeaders(200, raw('content-type', 'audio/mpeg'), r.resume)).toBe(true);
    sink.full = true;
    expect(r.relay.onData(Buffer.from('one'))).toBe(false);
    expect(r.relay.onData(Buffer.from('two'))).toBe(false); // undici may still hand over what it has read
    expect(sink.listenerCount('drain')).toBe(1);
    expect(r.resumes()).toBe(0);
    sink.full = false;
    sink.emit('drain');
    expect(r.resumes()).toBe(1);
    expect(r.relay.onData(Buffer.from('three'))).toBe(true);
    sink.emit('drain');
    expect(r.resumes()).toBe(1);
    expect(sink.writes).toEqual(['one', 'two', 'three']);
  });
});

describe('Relay: the budget ceiling', () => {
  it('ends the answer with the cut-off event, cancels the upstream call and finishes with what was delivered', async () => {
    const collector = new Collector();
    const r = relayOver(collector, { ceiling: tokens('Hello') });
    r.connect();
    r.relay.onHeaders(200, raw('content-type', SSE, 'content-length', '5000'), r.resume);
    r.relay.onData(Buffer.from(chat('Hello')));
    expect(r.aborts).toHaveLength(0);
    r.relay.onData(Buffer.from(chat(' world') + chat(' more')));
    expect(r.aborts).toHaveLength(1);
    expect(r.aborts[0]).toBeInstanceOf(errors.RequestAbortedError);
    expect(r.aborts[0]?.message).toBe('The budget ceiling was reached.');
    // What the upstream sends before the cancel lands, and the abort's own error, change nothing.
    r.relay.onData(Buffer.from(chat(' late')));
    r.relay.onError(r.aborts[0] as Error);
    const got = await collector.answer;
    expect(got.body.toString()).toBe(chat('Hello') + CUTOFF);
    expect(got.headers['content-length']).toBeUndefined();
    const { observed, facts } = await r.finished;
    expect(await observed).toEqual(counted('Hello'));
    expect(facts).toMatchObject({ status: 200, bytesOut: got.body.length });
    await ticks();
    expect([r.finishes.length, r.failed.length, r.drains()]).toEqual([1, 0, 0]);
  });

  it('cuts off at the end too, when the last event (without its blank line) would pass the ceiling', async () => {
    const collector = new Collector();
    const r = relayOver(collector, { ceiling: tokens('Hello') });
    r.connect();
    r.relay.onHeaders(200, raw('content-type', SSE), r.resume);
    r.relay.onData(Buffer.from(chat('Hello') + chat(' world').trimEnd()));
    expect(r.aborts).toHaveLength(0);
    r.relay.onComplete();
    expect(r.aborts).toHaveLength(1);
    expect((await collector.answer).body.toString()).toBe(chat('Hello') + CUTOFF);
    expect(await (await r.finished).observed).toEqual(counted('Hello'));
  });
});
