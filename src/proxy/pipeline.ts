import { performance } from 'node:perf_hooks';
import { type Admitted, type EndFacts, type AdmissionDeps, type Incoming, NO_USAGE, admit } from './admission.js';
import type { Principal } from './authenticate.js';
import { type AnswerSink, Relay, type RelayCall } from './relay.js';
import { type Upgrade, tunnel } from './tunnel.js';
import type { Cors } from './cors.js';

export interface PipelineDeps extends AdmissionDeps {
  /** Milliseconds a realtime upgrade waits for the upstream to connect and answer. */
  connectTimeout: number;
  /** Which web origins may call from a page (the HTTP entry answers preflights with it); absent: none. */
  cors?: Cors | undefined;
}

/**
 * One request as an entry hands it to the pipeline: the HTTP data plane, the library's
 * `request`, a realtime upgrade (and any entry to come). The entry owns the medium — how an
 * answer or an error is written, when the client has gone, the access line — and the
 * pipeline owns every decision.
 */
export interface Call extends RelayCall {
  readonly request: Incoming;
  /** performance.now() when the request arrived. */
  readonly startedAt: number;
  /** The request body's size, for the ledger (a chunked body declares none: 0). */
  readonly bytesIn: number;
  /** Where the answer goes (absent for an upgrade). */
  readonly sink?: AnswerSink;
  /** A WebSocket upgrade instead: the client's socket to join with the upstream's (see Upgrade). */
  readonly upgrade?: Upgrade;
  /** Whether the client left while the request was being decided. */
  gone(): boolean;
  /** The caller is known (for the access line). */
  onPrincipal?(principal: Principal): void;
  /** Bytes of the answer's body written so far. */
  bytesOut(): number;
  /** Set once the request is forwarded: the client's going away is the relay's to handle then. */
  relay?: Relay;
}

/**
 * The data plane, top to bottom, for every entry:
 *
 *   authenticate → upstream and scopes → read the body if a policy needs it → admit (rate
 *   limits, budgets)   [admission.ts]
 *   → forward → relay the answer, metering it   [relay.ts; a realtime session is tunnelled]
 *   → finish: settle the ticket (limits, budgets, the ledger row)   [Admitted.finish]
 *
 * Each admission step answers at once when it can (a known token, limits in memory, a budget
 * pool to draw on), so a request that needs no waiting is forwarded within this call; the
 * sync-or-async choice is made in admission's steps and nowhere else. Every refusal and
 * failure goes to `call.fail`, exactly once.
 */
export function runPipeline(deps: PipelineDeps, call: Call): void {
  try {
    admit(deps, call.request, call.onPrincipal, (err, admitted) => {
      if (err) return call.fail(err);
      try {
        forward(deps, call, admitted as Admitted);
      } catch (failure) {
        call.fail(failure); // never back into admission, which has answered
      }
    });
  } catch (err) {
    call.fail(err);
  }
}

function forward(deps: PipelineDeps, call: Call, a: Admitted): void {
  const measure = (): Omit<EndFacts, 'status'> => ({ durationMs: Math.round(performance.now() - call.startedAt), bytesIn: call.bytesIn, bytesOut: call.bytesOut() });
  if (call.gone()) return a.finish(NO_USAGE, { status: 499, ...measure() }); // it left while we decided
  if (call.upgrade) return tunnel(a, call.request.pathAndQuery, call.upgrade, deps.connectTimeout, call.fail);
  if (!call.sink) throw new Error('A call needs a sink or an upgrade.');
  // Server-Timing (W3C): the proxy's own time, from the request's arrival to the upstream call.
  call.extra['server-timing'] = `soakp;dur=${(performance.now() - call.startedAt).toFixed(2)}`;
  const relay = new Relay(a, call.sink, call, measure);
  call.relay = relay;
  try {
    deps.forwarder.dispatch({ upstream: a.principal.upstream, key: a.principal.key, method: call.request.method, pathAndQuery: call.request.pathAndQuery, headers: a.headers, body: a.body }, relay);
  } catch (err) {
    relay.onError(err as Error); // settles the ticket, then answers the error
  }
}
