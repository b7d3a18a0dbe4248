import type { Readable } from 'node:stream';
import type { UsageObservation } from '../policy/index.js';
import { tapResponse } from '../metering/index.js';
import { isSoakpError } from '../shared/index.js';
import { type EndFacts, type ExchangeDeps, type Incoming, NO_USAGE, admitRequest } from './admission.js';
import { downstreamResponseHeaders } from './headers.js';

export type { ExchangeDeps } from './admission.js';

/** One request from the library: what admission needs, and how to cancel it. */
export interface Outgoing extends Incoming {
  signal: AbortSignal;
  /** Aborts the upstream call (a budget cut-off). */
  cancel(): void;
  /** Facts only the caller's side knows when the request ends. */
  measure(): Omit<EndFacts, 'status'>;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | number>;
  body: Readable;
}

/**
 * The library's path: the same admission as HTTP, then the answer handed back as a stream,
 * tapped for usage on the way. (The HTTP route writes into the socket instead: relay.ts.)
 */
export async function exchange(deps: ExchangeDeps, req: Outgoing): Promise<Answer> {
  const a = await admitRequest(deps, req);
  let res;
  try {
    res = await deps.forwarder.forward({ upstream: a.principal.upstream, key: a.principal.key, method: req.method, pathAndQuery: req.pathAndQuery, headers: a.headers, body: a.body, signal: req.signal });
  } catch (err) {
    a.finish(NO_USAGE, { status: isSoakpError(err) ? err.status : 502, ...req.measure() });
    throw err;
  }
  const contentType = String(res.headers['content-type'] ?? '');
  const tapped = tapResponse(res.body, {
    endpoint: a.ctx.family,
    contentType,
    completionCeiling: a.ticket.completionCeiling,
    onCutoff: () => req.cancel(),
  });
  const status = res.status;
  void tapped.usage.then((observed: UsageObservation) => a.finish(observed, { status, ...req.measure() }));
  // soakp's own x-ratelimit-* (when it applies limits) describe the caller's limits: they win
  // over the upstream's headers of the same name, which describe the stored key's.
  return { status, headers: { ...downstreamResponseHeaders(res.headers), ...a.ticket.headers } as Answer['headers'], body: tapped.body };
}
