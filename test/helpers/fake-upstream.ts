import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answer } from './fake-routes.js';

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  sha256: string;
}

/** A gate the test opens: the fake waits on it between SSE events, or before answering. */
export class Gate {
  #open!: () => void;
  readonly opened = new Promise<void>((resolve) => (this.#open = resolve));
  open(): void {
    this.#open();
  }
}

export interface FakeControls {
  /** When set, SSE answers wait for this gate before each event from `sseGateFrom` on (default 1). */
  sseGate?: Gate | undefined;
  sseGateFrom?: number | undefined;
  /**
   * When set, chat answers report the prompt as OpenAI bills it: each message's role, name and
   * text in o200k tokens, 3 tokens a message, 1 a name and 3 priming the reply; and at most
   * `max_tokens` completion tokens.
   */
  billedUsage?: boolean | undefined;
  /**
   * When set, SSE answers send content event i at `ssePaceMs[i]` ms after the answer starts (a
   * model generating at its own pace), and record when each event was written in `sseSent`.
   */
  ssePaceMs?: readonly number[] | undefined;
  /** The wall-clock times (ms, `performance.timeOrigin + performance.now()`) the paced events were written. */
  sseSent?: number[] | undefined;
  /** When set, streams ignore stream_options (no usage), as some OpenAI-compatible upstreams do. */
  ignoreStreamOptions?: boolean | undefined;
  /** Resolves when the fake sees the client side of an answer close before it ended. */
  onAbort?: (() => void) | undefined;
}

export interface FakeUpstream {
  /** Base URL to configure as the upstream, e.g. http://127.0.0.1:1234/v1 */
  readonly baseUrl: string;
  readonly requests: Recorded[];
  readonly controls: FakeControls;
  /** Holds the next answers until `release()` is called (to test in-flight shutdown). */
  hold(): void;
  release(): void;
  /** Resolves when the fake has received `n` requests in all. */
  received(n: number): Promise<void>;
  /** Resolves when an answer in progress is abandoned by its client (the proxy). */
  aborted(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A small OpenAI look-alike on 127.0.0.1 that records what reaches it (headers, body and its
 * SHA-256) and can stream paced SSE, fail, stall, redirect and send binary audio.
 */
export async function startFakeUpstream(): Promise<FakeUpstream> {
  const requests: Recorded[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const controls: FakeControls = {};
  let held: Array<() => void> | null = null;
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    try {
      for await (const c of req) chunks.push(c as Buffer);
    } catch {
      return; // the proxy cut the upload off (e.g. over its size limit): nothing to answer
    }
    const body = Buffer.concat(chunks);
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, sha256: sha256(body) });
    for (const w of waiters.filter((w) => requests.length >= w.n)) w.resolve();
    res.once('close', () => {
      if (!res.writableFinished) controls.onAbort?.();
    });
    const go = () => void answer(req, res, body, controls);
    if (held) held.push(go);
    else go();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    controls,
    hold: () => {
      held = [];
    },
    release: () => {
      const pending = held ?? [];
      held = null;
      for (const go of pending) go();
    },
    received: (n) => (requests.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    aborted: () => new Promise<void>((resolve) => (controls.onAbort = resolve)),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export type { ServerResponse };
