import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { endpointFamily } from '../domain/policy.js';
import type { PolicyEngine, Ticket } from '../policy/engine.js';
import { type RequestFields, inspectBody, jsonFields, withStreamUsage } from '../policy/inspect.js';
import type { UsageObservation } from '../policy/ports.js';
import { loadTokenizer } from '../policy/tokenizer.js';
import { tapResponse } from '../policy/usage-tap.js';
import { isSoakpError } from '../shared/errors.js';
import type { Authenticator, Principal } from './authenticate.js';
import type { Forwarder } from './forward.js';
import { downstreamResponseHeaders } from './headers.js';

export interface ExchangeDeps {
  auth: Authenticator;
  forwarder: Forwarder;
  policies: PolicyEngine;
  inspectLimit: number;
}

/** One request on its way in, from the HTTP route or the library. */
export interface Outgoing {
  method: string;
  /** The part after /v1, with its query (already checked by upstreamPathOf). */
  pathAndQuery: string;
  headers: IncomingHttpHeaders;
  body: Readable | Buffer | null;
  /** Where the request came from, for the audit log (an address, or 'library'). */
  source: string | null;
  signal: AbortSignal;
  /** Aborts the upstream call (a budget cut-off). */
  cancel(): void;
  /** Facts only the caller's side knows when the request ends. */
  measure(): { durationMs: number; bytesIn: number; bytesOut: number };
  /** Called once the caller is known, before anything else (the access log uses it). */
  onPrincipal?(principal: Principal): void;
  /** Called just before the upstream call: the proxy's own work is done. */
  beforeForward?(): void;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | number>;
  body: Readable;
}

/**
 * The data plane's one path: authenticate → scopes → (read the body only if a policy needs
 * it) → rate limits and budget → forward with the key → tap the answer for usage → account.
 */
export async function exchange(deps: ExchangeDeps, req: Outgoing): Promise<Answer> {
  const path = req.pathAndQuery.split('?', 1)[0] as string;
  const principal = await deps.auth.authenticate(req.headers, { method: req.method, path }).catch((err: unknown) => {
    if (isSoakpError(err) && err.status === 401) deps.policies.authFailed(req.source);
    throw err;
  });
  req.onPrincipal?.(principal);
  const ctx = { user: principal.user, token: principal.token, upstream: principal.upstream.name, family: endpointFamily(path), source: req.source };
  deps.policies.checkRoute(ctx);
  let { body, headers } = req;
  let fields: RequestFields = {};
  if (body && deps.policies.needsFields(ctx)) {
    const inspected = Buffer.isBuffer(body)
      ? { body, fields: jsonFields(body), whole: body } // the library's JSON, already whole
      : await inspectBody(body, String(headers['content-type'] ?? ''), deps.inspectLimit);
    ({ body, fields } = inspected);
    if (inspected.whole && deps.policies.wantsStreamUsage(ctx, fields)) {
      body = withStreamUsage(inspected.whole);
      headers = { ...headers, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
    }
  }
  const ticket = await deps.policies.admit(ctx, fields, Number(headers['content-length'] ?? 0));
  const facts = (status: number) => ({ status, model: fields.model ?? null, ...req.measure() });
  let res;
  req.beforeForward?.();
  try {
    res = await deps.forwarder.forward({ upstream: principal.upstream, key: principal.key, method: req.method, pathAndQuery: req.pathAndQuery, headers, body, signal: req.signal });
  } catch (err) {
    finishEmpty(ticket, facts(isSoakpError(err) ? err.status : 502));
    throw err;
  }
  // A stream may have to be counted as it passes: have the tokenizer ready before it starts.
  if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) await loadTokenizer();
  const tapped = tapResponse(res.body, {
    endpoint: ctx.family,
    contentType: String(res.headers['content-type'] ?? ''),
    promptEstimate: ticket.promptTokens,
    completionCeiling: ticket.completionCeiling,
    onCutoff: () => req.cancel(),
  });
  const status = res.status;
  void tapped.usage.then((observed: UsageObservation) => ticket.finish(observed, facts(status)));
  // soakp's own x-ratelimit-* (when it applies limits) describe the caller's limits: they win
  // over the upstream's headers of the same name, which describe the stored key's.
  return { status, headers: { ...downstreamResponseHeaders(res.headers), ...ticket.headers } as Answer['headers'], body: tapped.body };
}

function finishEmpty(ticket: Ticket, facts: Parameters<Ticket['finish']>[1]): void {
  ticket.finish({ promptTokens: 0, completionTokens: 0, totalTokens: 0, source: 'none' }, facts);
}

