import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { endpointFamily } from '../domain/policy.js';
import type { PolicyContext, PolicyEngine, Ticket } from '../policy/engine.js';
import { type RequestFields, inspectBody, jsonFields, withStreamUsage } from '../policy/inspect.js';
import type { UsageObservation } from '../policy/ports.js';
import { isSoakpError } from '../shared/errors.js';
import type { Authenticator, Principal } from './authenticate.js';
import type { Forwarder } from './forward.js';

export interface ExchangeDeps {
  auth: Authenticator;
  forwarder: Forwarder;
  policies: PolicyEngine;
  inspectLimit: number;
}

/** One request on its way in, from the HTTP route or the library. */
export interface Incoming {
  method: string;
  /** The part after /v1, with its query (already checked by upstreamPathOf). */
  pathAndQuery: string;
  headers: IncomingHttpHeaders;
  body: Readable | Buffer | null;
  /** Where the request came from, for the audit log (an address, or 'library'). */
  source: string | null;
}

/** What the caller's side knows when the request ends, for the ledger. */
export interface EndFacts {
  status: number;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
}

/** A request that passed every policy: what to forward, and the ticket to settle at its end. */
export interface Admitted {
  readonly principal: Principal;
  readonly ctx: PolicyContext;
  readonly headers: IncomingHttpHeaders;
  readonly body: Readable | Buffer | null;
  readonly fields: RequestFields;
  readonly ticket: Ticket;
  /** Settles the ticket exactly once (later calls do nothing). */
  finish(observed: UsageObservation, facts: EndFacts): void;
}

export const NO_USAGE: UsageObservation = Object.freeze({ promptTokens: 0, completionTokens: 0, totalTokens: 0, source: 'none' });

/**
 * The data plane's decisions, shared by the HTTP route and the library: authenticate →
 * scopes → (read the body only if a policy needs it) → rate limits and budget. Everything
 * refused is refused here, before a byte reaches the upstream.
 */
export async function admitRequest(deps: ExchangeDeps, req: Incoming, onPrincipal?: (p: Principal) => void): Promise<Admitted> {
  const q = req.pathAndQuery.indexOf('?');
  const path = q === -1 ? req.pathAndQuery : req.pathAndQuery.slice(0, q);
  const principal = await deps.auth.authenticate(req.headers, { method: req.method, path }).catch((err: unknown) => {
    if (isSoakpError(err) && err.status === 401) deps.policies.authFailed(req.source);
    throw err;
  });
  onPrincipal?.(principal);
  const ctx: PolicyContext = { user: principal.user, token: principal.token, upstream: principal.upstream.name, family: endpointFamily(path), source: req.source };
  deps.policies.checkRoute(ctx);
  let { body, headers } = req;
  let fields: RequestFields = {};
  if (body && deps.policies.needsFields(ctx)) {
    const inspected = Buffer.isBuffer(body)
      ? { body, fields: jsonFields(body), whole: body } // the library's JSON, already whole
      : await inspectBody(body, String(headers['content-type'] ?? ''), deps.inspectLimit);
    // A body read whole is forwarded as one buffer: cheaper for undici than a replaying stream.
    body = inspected.whole ?? inspected.body;
    fields = inspected.fields;
    if (inspected.whole && deps.policies.wantsStreamUsage(ctx, fields)) {
      body = withStreamUsage(inspected.whole);
      headers = { ...headers, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
    }
  }
  const ticket = await deps.policies.admit(ctx, fields, Number(headers['content-length'] ?? 0));
  const model = fields.model ?? null;
  return {
    principal, ctx, headers, body, fields, ticket,
    finish: (observed, facts) => ticket.finish(observed, { ...facts, model }),
  };
}
