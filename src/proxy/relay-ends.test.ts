import { beforeAll, describe, expect, it } from 'vitest';
import { MODEL, SSE, chat, tokens } from '../../test/helpers/metering.js';
import { FakeSink, raw, relayOver, ticks } from '../../test/helpers/relay.js';
import { loadTokenizer } from '../metering/index.js';
import { SoakpError } from '../shared/index.js';
import { NO_USAGE } from './admission.js';
import { Collector } from './collect.js';
import { errors } from './undici-core.js';

// How a relayed answer ends early: the client leaves, or the upstream fails before or during
// its answer. Each settles the ticket exactly once, with what was delivered.
beforeAll(async () => {
  await loadTokenizer();
});

const hello = { promptTokens: 0, completionTokens: tokens('Hello'), totalTokens: tokens('Hello'), source: 'counted', model: MODEL };

describe('Relay: the client leaves', () => {
  it('before the answer: aborts the upstream call and finishes with 499 and no usage', async () => {
    const sink = new FakeSink();
    const r = relayOver(sink);
    r.connect();
    r.relay.clientClosed();
    expect(r.aborts).toHaveLength(1);
    expect(r.aborts[0]).toBeInstanceOf(errors.RequestAbortedError);
    expect(r.aborts[0]?.message).toBe('The client closed the request.');
    // Headers the upstream sends meanwhile, and the abort's own error, reach nobody.
    expect(r.relay.onHeaders(200, raw('content-type', SSE), r.resume)).toBe(true);
    r.relay.onError(r.aborts[0] as Error);
    const { observed, facts } = await r.finished;
    expect(observed).toEqual(NO_USAGE);
    expect(facts).toEqual({ status: 499, durationMs: 7, bytesIn: 3, bytesOut: 0 });
    await ticks();
    expect([sink.heads.length, sink.ended, r.failed.length, r.drains(), r.finishes.length]).toEqual([0, 0, 0, 0, 1]);
  });

  it('before undici connects: the call is aborted as soon as it does', async () => {
    const r = relayOver(new FakeSink());
    r.relay.clientClosed();
    expect(r.aborts).toHaveLength(0);
    r.connect();
    expect(r.aborts).toHaveLength(1);
    expect((await r.finished).facts.status).toBe(499);
  });

  it('mid-answer: aborts the upstream call and is charged for the events delivered, not for nothing', async () => {
    const sink = new FakeSink();
    const r = relayOver(sink);
    r.connect();
    r.relay.onHeaders(200, raw('content-type', SSE), r.resume);
    r.relay.onData(Buffer.from(chat('Hello')));
    r.relay.clientClosed();
    expect(r.aborts).toHaveLength(1);
    r.relay.onData(Buffer.from(chat(' world')));
    r.relay.onError(r.aborts[0] as Error);
    r.relay.clientClosed();
    const { observed, facts } = await r.finished;
    expect(await observed).toEqual(hello);
    expect(tokens('Hello')).toBeGreaterThan(0);
    expect(facts).toMatchObject({ status: 200, bytesOut: Buffer.byteLength(chat('Hello')) });
    expect(sink.writes).toEqual([chat('Hello')]);
    await ticks();
    expect([r.finishes.length, r.failed.length, r.drains(), sink.destroyed]).toEqual([1, 0, 0, 0]);
  });

  it('after the answer ended: nothing to abort, nothing more to settle', async () => {
    const sink = new FakeSink();
    const r = relayOver(sink);
    r.connect();
    r.relay.onHeaders(204, [], r.resume);
    r.relay.onComplete();
    r.relay.clientClosed();
    expect(r.aborts).toHaveLength(0);
    expect((await r.finished).facts.status).toBe(204);
    await ticks();
    expect(r.finishes).toHaveLength(1);
  });
});

describe('Relay: the upstream fails', () => {
  for (const [name, err, status, code] of [
    ['a headers timeout', new errors.HeadersTimeoutError('Headers Timeout Error'), 504, 'upstream_timeout'],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), 502, 'upstream_unreachable'],
  ] as const) {
    it(`before its answer (${name}): fails the call with ${status}, drains the request and finishes with ${status}`, async () => {
      const collector = new Collector();
      const r = relayOver(collector);
      r.connect();
      r.relay.onError(err);
      expect(r.failed).toHaveLength(1);
      const failure = r.failed[0] as SoakpError;
      expect(failure).toBeInstanceOf(SoakpError);
      expect(failure).toMatchObject({ status, code });
      expect(failure.message).toContain('"main"'); // names the upstream, never its key or address
      expect(failure.cause).toBe(err);
      expect(r.drains()).toBe(1);
      await expect(collector.answer).rejects.toBe(failure);
      const { observed, facts } = await r.finished;
      expect(observed).toEqual(NO_USAGE);
      expect(facts.status).toBe(status);
      // The error envelope is still on its way: the client's leaving now settles nothing again.
      r.relay.onError(err);
      r.relay.clientClosed();
      await ticks();
      expect([r.failed.length, r.drains(), r.finishes.length]).toEqual([1, 1, 1]);
    });
  }

  it('mid-answer: breaks the answer off, drains the request and finishes with what was delivered', async () => {
    const collector = new Collector();
    const r = relayOver(collector);
    r.connect();
    r.relay.onHeaders(200, raw('content-type', SSE), r.resume);
    r.relay.onData(Buffer.from(chat('Hello')));
    r.relay.onError(new errors.BodyTimeoutError('Body Timeout Error'));
    await expect(collector.answer).rejects.toMatchObject({ code: 'upstream_unreachable' });
    expect(r.failed).toHaveLength(0); // the head went: no error envelope can follow it
    expect(r.drains()).toBe(1);
    const { observed, facts } = await r.finished;
    expect(await observed).toEqual(hello);
    expect(facts.status).toBe(200);
  });

  it('mid-answer into a response: destroys it, once', async () => {
    const sink = new FakeSink();
    const r = relayOver(sink);
    r.connect();
    r.relay.onHeaders(200, raw('content-type', SSE), r.resume);
    r.relay.onData(Buffer.from(chat('Hello')));
    r.relay.onError(new Error('socket reset'));
    r.relay.onError(new Error('again'));
    r.relay.onComplete();
    r.relay.clientClosed(); // the destroyed response closes: the answer was settled already
    expect([sink.destroyed, sink.ended]).toEqual([1, 0]);
    await r.finished;
    await ticks();
    expect(r.finishes).toHaveLength(1);
  });
});
