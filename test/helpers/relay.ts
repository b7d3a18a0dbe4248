import { EventEmitter } from 'node:events';
import type { UsageObservation } from '../../src/metering/index.js';
import type { PolicyContext } from '../../src/policy/index.js';
import type { Admitted, EndFacts } from '../../src/proxy/admission.js';
import type { Principal } from '../../src/proxy/authenticate.js';
import { Collector } from '../../src/proxy/collect.js';
import { type AnswerSink, Relay, type RelayCall } from '../../src/proxy/relay.js';

/** Raw header buffers as undici hands them to onHeaders: name, value, name, value… */
export const raw = (...pairs: string[]): Buffer[] => pairs.map((s) => Buffer.from(s));

/** The headers soakp adds to every answer (the pipeline's `call.extra`). */
export const EXTRA = { 'x-request-id': 'req_soakp_1', 'server-timing': 'soakp;dur=0.10' };

/** A sink that records what the relay does to it, and can be full (its write returns false until it drains). */
export class FakeSink extends EventEmitter implements AnswerSink {
  headersSent = false;
  writableFinished = false;
  full = false;
  readonly heads: Array<{ status: number; headers: string[] }> = [];
  readonly writes: string[] = [];
  ended = 0;
  destroyed = 0;

  writeHead(status: number, headers: string[]): void {
    this.headersSent = true;
    this.heads.push({ status, headers });
  }

  write(chunk: Buffer): boolean {
    this.writes.push(chunk.toString());
    return !this.full;
  }

  end(): void {
    this.ended++;
    this.writableFinished = true;
  }

  destroy(): void {
    this.destroyed++;
  }
}

export interface Finished {
  observed: UsageObservation | Promise<UsageObservation>;
  facts: EndFacts;
}

/**
 * A Relay over a fake admitted request (its ticket: `own` headers and a completion ceiling) and
 * a fake call, connected (onConnect given an abort that records its error). `finished`
 * resolves on the first finish; `finishes` records them all.
 */
export function relayOver(sink: AnswerSink = new Collector(), options: { ceiling?: number; own?: Record<string, string>; closing?: boolean } = {}) {
  const finishes: Finished[] = [];
  let resolveFinished!: (f: Finished) => void;
  const finished = new Promise<Finished>((resolve) => (resolveFinished = resolve));
  const admitted: Admitted = {
    principal: {} as Principal,
    ctx: { upstream: 'main', family: 'chat', path: '/chat/completions', source: 'test' } as PolicyContext,
    headers: {},
    body: null,
    fields: {},
    ticket: {
      headers: options.own ?? {},
      completionCeiling: options.ceiling,
      finish: () => {
        throw new Error('the relay settles through Admitted.finish, not the ticket');
      },
    },
    finish: (observed, facts) => {
      finishes.push({ observed, facts });
      resolveFinished({ observed, facts });
    },
  };
  const failed: unknown[] = [];
  let drains = 0;
  const call: RelayCall = {
    extra: { ...EXTRA },
    closing: () => options.closing ?? false,
    fail: (err) => {
      failed.push(err);
      if (sink instanceof Collector) sink.fail(err);
    },
    drain: () => void drains++,
  };
  const relay: Relay = new Relay(admitted, sink, call, () => ({ durationMs: 7, bytesIn: 3, bytesOut: relay.bytesOut }));
  const aborts: Array<Error | undefined> = [];
  let resumes = 0;
  return {
    relay,
    finishes,
    finished,
    failed,
    aborts,
    drains: () => drains,
    resumes: () => resumes,
    /** undici's `resume` for onHeaders: counts its calls. */
    resume: () => void resumes++,
    /** onConnect, as undici calls it before anything else. */
    connect: () => relay.onConnect((err) => void aborts.push(err)),
  };
}

/** Lets the ticks run in which the relay settles: any finish due by now has happened after this. */
export const ticks = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));
