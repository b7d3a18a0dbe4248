import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { errors } from './undici-core.js';
import type { Meter } from '../policy/usage-meter.js';
import { isEventStream, meterFor } from '../policy/usage-tap.js';
import { loadTokenizer, tokenizerReady } from '../policy/tokenizer.js';
import { type Admitted, type EndFacts, NO_USAGE } from './admission.js';
import { upstreamError } from './forward.js';
import { downstreamResponseHeaders } from './headers.js';

type Controller = Dispatcher.DispatchController;

/**
 * The HTTP route's answer path: an undici dispatch handler that writes the upstream's answer
 * straight into the client's response — no Readable, no Transform, no pipe in between — and
 * meters it on the way. Backpressure is the controller's pause/resume; a client that leaves
 * aborts the upstream call at once (it would go on generating, and billing).
 */
export class Relay implements Dispatcher.DispatchHandler {
  #controller: Controller | undefined;
  #meter: Meter | undefined;
  #status = 0;
  #settled = false;
  /** Chunks held while the tokenizer loads (only before the first stream of the process). */
  #pending: Buffer[] | undefined;
  #ended = false;
  /** An event stream's first bytes go out at once, not at the end of the tick (see onResponseStart). */
  #flushFirst = false;
  readonly #push = (bytes: Buffer): void => {
    if (!this.res.write(bytes)) this.#controller?.pause();
    if (this.#flushFirst) {
      this.#flushFirst = false;
      this.res.socket?.uncork();
    }
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
  ) {
    res.on('drain', () => {
      if (!this.#pending) this.#controller?.resume(); // while the tokenizer loads, #flushPending resumes
    });
    res.once('close', () => {
      if (res.writableFinished) return;
      this.#settle();
      this.#controller?.abort(new errors.RequestAbortedError('The client closed the request.'));
    });
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller;
    if (this.#settled) controller.abort(new errors.RequestAbortedError('The client closed the request.'));
  }

  onResponseStart(controller: Controller, status: number, headers: Record<string, string | string[] | undefined>): void {
    // 1xx (103 Early Hints, 102 Processing) are interim: the real answer follows.
    if (this.#settled || status < 200) return;
    const contentType = String(headers['content-type'] ?? '');
    const sse = isEventStream(contentType);
    this.#status = status;
    this.#meter = meterFor({ endpoint: this.a.ctx.family, contentType, promptEstimate: this.a.ticket.promptTokens, completionCeiling: this.a.ticket.completionCeiling });
    const out = downstreamResponseHeaders(headers);
    // soakp's own x-ratelimit-* describe the caller's limits: they win over the upstream's (the stored key's).
    Object.assign(out, this.a.ticket.headers);
    for (const name in this.extra) if (out[name] === undefined) out[name] = this.extra[name];
    // The meter may end a metered stream early with its own last event: a length would then lie.
    if (sse && this.a.ticket.completionCeiling !== undefined) delete out['content-length'];
    // Keep-alive would hold the socket open past shutdown; end it with this answer instead.
    if (this.closing()) out.connection = 'close';
    this.res.writeHead(status, out);
    // Node corks a response's writes until the next tick; an upstream's burst of events parsed
    // in one tick would then wait for all of them to be metered. The first event is what a
    // user waits for, so it is flushed at once (one extra write per stream, not per event).
    this.#flushFirst = sse;
    // A stream may have to be counted as it passes: have the tokenizer ready before it goes on.
    if (sse && !tokenizerReady()) {
      this.#pending = [];
      controller.pause();
      void loadTokenizer().then(() => this.#flushPending(), () => this.#flushPending());
    }
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    if (this.#settled) return;
    if (this.#pending) this.#pending.push(chunk);
    else if (this.#meter?.write(chunk, this.#push)) this.#cutOff();
  }

  onResponseEnd(): void {
    this.#ended = true;
    if (this.#settled || this.#pending) return;
    if (this.#meter?.end(this.#push)) return this.#cutOff();
    this.res.end();
    this.#settle();
  }

  onResponseError(_controller: Controller | undefined, err: Error): void {
    if (this.#settled) return;
    const error = upstreamError(err, this.a.ctx.upstream);
    this.#status ||= error.status;
    this.#settle();
    if (!this.res.headersSent) this.fail(error);
    else this.res.destroy(); // mid-answer: the only honest signal left is to cut the connection
    if (!this.req.complete) this.req.resume(); // drain what the upstream no longer reads
  }

  #flushPending(): void {
    const chunks = this.#pending ?? [];
    this.#pending = undefined;
    for (const chunk of chunks) this.onResponseData(this.#controller as Controller, chunk);
    if (this.#ended) this.onResponseEnd();
    else if (!this.res.writableNeedDrain) this.#controller?.resume(); // else 'drain' resumes it
  }

  /** The budget ran out mid-stream: the meter has sent the closing error event; cancel the upstream. */
  #cutOff(): void {
    this.res.end();
    this.#settle();
    this.#controller?.abort(new errors.RequestAbortedError('The budget ceiling was reached.'));
  }

  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    // After the answer's bytes leave: the response flushes on the next tick (Node corks it), and
    // reading the usage and queueing the ledger row should not hold that up.
    process.nextTick(() => this.a.finish(this.#meter?.observation() ?? NO_USAGE, { status: this.#status || 499, ...this.measure() }));
  }
}
