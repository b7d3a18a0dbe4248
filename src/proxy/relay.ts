import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { errors } from './undici-core.js';
import { type Meter, WAIT, type Written } from '../policy/usage-meter.js';
import { isEventStream, meterFor } from '../policy/usage-tap.js';
import { loadTokenizer, tokenizerSettled } from '../policy/tokenizer.js';
import { type Admitted, type EndFacts, NO_USAGE } from './admission.js';
import { upstreamError } from './forward.js';
import { answerHead } from './headers.js';

/**
 * The HTTP route's answer path: an undici dispatch handler that writes the upstream's answer
 * straight into the client's response — no Readable, no Transform, no pipe in between — and
 * meters it on the way. It takes undici's own (raw) callbacks: the newer handler API is a
 * wrapper around them that parses every header into an object first. Backpressure is
 * returning false and calling `resume`; a client that leaves aborts the upstream call at once
 * (it would go on generating, and billing).
 */
export class Relay implements Dispatcher.DispatchHandler {
  #abort: ((err?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #paused = false;
  #meter: Meter | undefined;
  #status = 0;
  #settled = false;
  /** Chunks held while the tokenizer loads (only when a count may be needed before it is ready). */
  #pending: Buffer[] | undefined;
  #ended = false;
  /** The upstream's request id, for the access log. */
  upstreamRequestId: string | undefined;
  /** Bytes of the answer's body written to the client (counted here: a socket's byte getters cost more than the count). */
  bytesOut = 0;
  readonly #push = (bytes: Buffer): void => {
    this.bytesOut += bytes.length;
    if (!this.res.write(bytes)) this.#pause();
  };
  readonly #drained = (): void => {
    if (!this.#pending) this.#unpause(); // while the tokenizer loads, #flushPending resumes
  };

  constructor(
    private readonly a: Admitted,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    /** Headers soakp adds to the answer (request id when the upstream sends none, timing). */
    private readonly extra: Record<string, string>,
    /** Whether shutdown has begun: asked when the answer starts, which may be long after the request came. */
    private readonly closing: () => boolean,
    private readonly measure: () => Omit<EndFacts, 'status'>,
    /** Answers with an error envelope (nothing was sent yet). */
    private readonly fail: (err: unknown) => void,
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
    // The meter may end a metered stream early with its own last event: a length would then lie.
    const head = answerHead(raw, ticket.headers, this.extra, ticket.completionCeiling !== undefined);
    const sse = isEventStream(head.contentType);
    this.upstreamRequestId = head.requestId;
    this.#meter = meterFor({ endpoint: this.a.ctx.family, contentType: head.contentType, completionCeiling: ticket.completionCeiling });
    // Keep-alive would hold the socket open past shutdown; end it with this answer instead.
    if (this.closing()) head.list.push('connection', 'close');
    this.res.writeHead(status, head.list);
    // Node corks a response's writes until the end of the tick, so the events of a burst the
    // upstream sent at once (one socket read) go out together once all are metered. Flushing the
    // first at once gained ~20 µs of first-event time on such a burst and cost a write and a
    // wake-up per stream (25-30% of a short stream's CPU); events that arrive apart, as a model
    // generates them, go out apart either way.
    // A stream whose usage the upstream was not asked for is counted: as in the process's first
    // such stream the tokenizer may still be missing, it is loaded before the events go on, so the
    // count (and the ledger row, in order) is ready when the stream ends.
    if (sse && !this.a.fields.streamUsage && !tokenizerSettled()) this.#waitForTokenizer([]);
    return !this.#paused;
  }

  onData(chunk: Buffer): boolean {
    if (this.#settled) return true;
    if (this.#pending) this.#pending.push(chunk);
    else if (this.#meter?.mayCount(chunk.length) && !tokenizerSettled()) this.#waitForTokenizer([chunk]);
    else this.#went(this.#meter?.write(chunk, this.#push), []);
    return !this.#paused;
  }

  onComplete(): void {
    this.#ended = true;
    if (this.#settled || this.#pending) return;
    const went = this.#meter?.end(this.#push);
    if (went === WAIT) return this.#waitForTokenizer([]);
    if (went) return this.#cutOff();
    this.res.end();
    this.#settle();
  }

  /** After a meter step: cut off, or stop for the tokenizer (the chunks not yet written wait with it); true if it went on. */
  #went(step: Written | undefined, rest: Buffer[]): boolean {
    if (step === WAIT) this.#waitForTokenizer(rest);
    else if (step) this.#cutOff();
    return !step;
  }

  onError(err: Error): void {
    if (this.#settled) return;
    const error = upstreamError(err, this.a.ctx.upstream);
    this.#status ||= error.status;
    this.#settle();
    if (!this.res.headersSent) this.fail(error);
    else this.res.destroy(); // mid-answer: the only honest signal left is to cut the connection
    if (!this.req.complete) this.req.resume(); // drain what the upstream no longer reads
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

  /**
   * A count is due before the tokenizer is ready (the first time in this process): the upstream
   * is paused and `chunks` held while it loads (or fails to: counts are then estimates).
   */
  #waitForTokenizer(chunks: Buffer[]): void {
    this.#pending = chunks;
    this.#paused = true;
    void loadTokenizer().then(() => this.#flushPending(), () => this.#flushPending());
  }

  #flushPending(): void {
    const chunks = this.#pending ?? [];
    this.#pending = undefined;
    this.#paused = false;
    if (this.#settled || !this.#meter) return;
    if (!this.#went(this.#meter.resume(this.#push), chunks)) return;
    for (let i = 0; i < chunks.length; i++) if (!this.#went(this.#meter.write(chunks[i] as Buffer, this.#push), chunks.slice(i + 1))) return;
    if (this.#ended) this.onComplete();
    else if (!this.#paused) this.#resume?.(); // else a write filled the socket: 'drain' resumes
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
      const meter = this.#meter;
      // Text delivered without reported usage is counted: with the tokenizer, loaded first if need be.
      const observed = !meter ? NO_USAGE : meter.countsAtEnd() && !tokenizerSettled() ? loadTokenizer().then(() => meter.observation(), () => meter.observation()) : meter.observation();
      this.a.finish(observed, { status: this.#status || 499, ...this.measure() });
    });
  }
}
