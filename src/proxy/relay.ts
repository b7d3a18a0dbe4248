import type { Dispatcher } from 'undici';
import { errors } from './undici-core.js';
import type { Meter } from '../metering/index.js';
import { meterFor } from '../metering/index.js';
import { type Admitted, type EndFacts, NO_USAGE } from './admission.js';
import { upstreamError } from './forward.js';
import { answerHead } from './headers.js';

/**
 * Where an answer goes: the HTTP response itself (a ServerResponse is one), or the library's
 * collector. The relay writes the head once, then the body's chunks, then ends it.
 */
export interface AnswerSink {
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  /** `headers`: names and values in turn, as undici hands them over. */
  writeHead(status: number, headers: string[]): unknown;
  /** False asks the relay to wait for 'drain'. */
  write(chunk: Buffer): boolean;
  end(): unknown;
  /** Mid-answer failure: the only honest signal left is to cut the answer off. */
  destroy(): unknown;
  once(event: 'drain', listener: () => void): unknown;
}

/** What the relay needs of the request it answers (the pipeline's Call). */
export interface RelayCall {
  /** Headers soakp adds to the answer (request id when the upstream sends none, timing). */
  readonly extra: Record<string, string>;
  /** Whether shutdown has begun: asked when the answer starts, which may be long after the request came. */
  closing(): boolean;
  /** Answers with an error envelope (nothing was sent yet). */
  fail(err: unknown): void;
  /** Reads and drops what is left of the request body, once the upstream no longer reads it. */
  drain?(): void;
}

/**
 * The pipeline's answer path: an undici dispatch handler that writes the upstream's answer
 * straight into the sink (the client's response) — no Readable, no Transform, no pipe in between — and
 * meters it on the way. It takes undici's own (raw) callbacks: the newer handler API is a
 * wrapper around them that parses every header into an object first. Backpressure is
 * returning false and calling `resume`; a client that leaves aborts the upstream call at once
 * (it would go on generating, and billing). Nothing here waits for the meter: it decides each
 * chunk at once, and counts what needs its tokenizer after the answer has gone.
 */
export class Relay implements Dispatcher.DispatchHandler {
  #abort: ((err?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #paused = false;
  #meter: Meter | undefined;
  #status = 0;
  #settled = false;
  /** The upstream's request id, for the access log. */
  upstreamRequestId: string | undefined;
  /** Bytes of the answer's body written to the client (counted here: a socket's byte getters cost more than the count). */
  bytesOut = 0;
  readonly #push = (bytes: Buffer): void => {
    this.bytesOut += bytes.length;
    if (!this.res.write(bytes)) this.#pause();
  };
  readonly #drained = (): void => this.#unpause();
  constructor(
    private readonly a: Admitted,
    private readonly res: AnswerSink,
    private readonly call: RelayCall,
    private readonly measure: () => Omit<EndFacts, 'status'>,
  ) {}

  /** The client's connection closed (its caller listens for 'close' once, for everything). */
  clientClosed(): void {
    if (this.res.writableFinished) return;
    this.#settle();
    this.#abort?.(new errors.RequestAbortedError('The client closed the request.'));
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#settled) abort(new errors.RequestAbortedError('The client closed the request.'));
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    // 1xx (103 Early Hints, 102 Processing) are interim: the real answer follows.
    if (this.#settled || status < 200) return true;
    this.#resume = resume;
    this.#status = status;
    const { ticket } = this.a;
    const stripUsage = this.a.fields.usageAdded;
    // The meter may end a metered stream early with its own last event, or take out what soakp asked for: a length would then lie.
    const head = answerHead(raw, ticket.headers, this.call.extra, ticket.completionCeiling !== undefined || stripUsage === true);
    this.upstreamRequestId = head.requestId;
    this.#meter = meterFor({ endpoint: this.a.ctx.family, contentType: head.contentType, completionCeiling: ticket.completionCeiling, stripUsage });
    // Keep-alive would hold the socket open past shutdown; end it with this answer instead.
    if (this.call.closing()) head.list.push('connection', 'close');
    this.res.writeHead(status, head.list);
    // Node corks a response's writes until the end of the tick, so the events of a burst the
    // upstream sent at once (one socket read) go out together, in one write, once all are
    // metered; events that arrive apart, as a model generates them, go out apart.
    return !this.#paused;
  }

  onData(chunk: Buffer): boolean {
    if (this.#settled) return true;
    if (this.#meter?.write(chunk, this.#push)) this.#cutOff();
    return !this.#paused;
  }

  onComplete(): void {
    if (this.#settled) return;
    if (this.#meter?.end(this.#push)) return this.#cutOff();
    this.res.end();
    this.#settle();
  }

  onError(err: Error): void {
    if (this.#settled) return;
    const error = upstreamError(err, this.a.ctx.upstream);
    this.#status ||= error.status;
    this.#settle();
    if (!this.res.headersSent) this.call.fail(error);
    else this.res.destroy(); // mid-answer: the only honest signal left is to cut the connection
    this.call.drain?.();
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.res.once('drain', this.#drained);
  }

  #unpause(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#resume?.();
  }

  /** The budget ran out mid-stream: the meter has sent the closing error event; cancel the upstream. */
  #cutOff(): void {
    this.res.end();
    this.#settle();
    this.#abort?.(new errors.RequestAbortedError('The budget ceiling was reached.'));
  }

  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    // After the answer's bytes leave: the response flushes on the next tick (Node corks it), and
    // reading the usage and queueing the ledger row should not hold that up.
    process.nextTick(() => {
      // A promise when delivered text is counted and the tokenizer is still loading: finish takes either.
      this.a.finish(this.#meter ? this.#meter.observation() : NO_USAGE, { status: this.#status || 499, ...this.measure() });
    });
  }
}
