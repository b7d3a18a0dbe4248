import { performance } from 'node:perf_hooks';
import { SoakpError } from '../shared/index.js';
import type { Incoming } from './admission.js';
import { type Call, type PipelineDeps, runPipeline } from './pipeline.js';
import type { AnswerSink } from './relay.js';

/** A whole answer, as the library hands it back. */
export interface Collected {
  status: number;
  /** Lower-case names; a repeated header's values joined by ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * The library's sink: the relay writes the answer into it as it would into a response, and
 * `answer` resolves with the whole of it (a budget cut-off included: its closing error event
 * is part of the body), or rejects when the pipeline fails or the answer breaks off.
 */
export class Collector implements AnswerSink {
  headersSent = false;
  writableFinished = false;
  readonly answer: Promise<Collected>;
  #status = 0;
  #headers: Record<string, string> = {};
  #chunks: Buffer[] = [];
  #resolve!: (answer: Collected) => void;
  #reject!: (err: unknown) => void;

  constructor() {
    this.answer = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  writeHead(status: number, headers: string[]): this {
    this.headersSent = true;
    this.#status = status;
    for (let i = 0; i < headers.length; i += 2) {
      const name = (headers[i] as string).toLowerCase();
      const value = headers[i + 1] as string;
      this.#headers[name] = name in this.#headers ? `${this.#headers[name]}, ${value}` : value;
    }
    return this;
  }

  write(chunk: Buffer): boolean {
    this.#chunks.push(chunk);
    return true; // held in memory: never asks the relay to wait
  }

  end(): this {
    this.writableFinished = true;
    this.#resolve({ status: this.#status, headers: this.#headers, body: Buffer.concat(this.#chunks) });
    return this;
  }

  destroy(): this {
    this.#reject(new SoakpError('upstream_unreachable', 'The upstream’s answer broke off before its end.'));
    return this;
  }

  /** Fails the answer before anything was written. */
  fail(err: unknown): void {
    this.#reject(err);
  }

  once(): this {
    return this; // never paused: no 'drain' comes
  }
}

/** The library's entry: one request through the pipeline, its answer collected whole. */
export function collect(deps: PipelineDeps, request: Incoming): Promise<Collected> {
  const sink = new Collector();
  const call: Call = {
    request, sink, startedAt: performance.now(), extra: {},
    bytesIn: Buffer.isBuffer(request.body) ? request.body.length : 0,
    gone: () => false,
    closing: () => false,
    fail: (err) => sink.fail(err),
    bytesOut: () => call.relay?.bytesOut ?? 0,
  };
  runPipeline(deps, call);
  return sink.answer;
}
