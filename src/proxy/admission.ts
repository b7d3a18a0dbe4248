import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { endpointFamily } from '../domain/policy.js';
import type { PolicyContext, PolicyEngine, Ticket } from '../policy/engine.js';
import { type Inspected, type RequestFields, inspectBody, jsonFields, withStreamUsage } from '../policy/inspect.js';
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
  /** Settles the ticket exactly once (later calls do nothing); see Ticket.finish. */
  finish(observed: UsageObservation | Promise<UsageObservation>, facts: EndFacts): void;
}

export const NO_USAGE: UsageObservation = Object.freeze({ promptTokens: 0, completionTokens: 0, totalTokens: 0, source: 'none' });

type Maybe<T> = T | Promise<T>;

/**
 * The data plane's decisions, shared by the HTTP route and the library: authenticate →
 * scopes → (read the body only if a policy needs it) → rate limits and budget. Everything
 * refused is refused here, before a byte reaches the upstream. Each step answers at once
 * when it can (a known token, limits in memory, a budget pool to draw on), so a request
 * whose body need not be read is admitted without a promise; the refusal is then thrown,
 * otherwise the promise rejects with it.
 */
export function admitRequest(deps: ExchangeDeps, req: Incoming, onPrincipal?: (p: Principal) => void): Maybe<Admitted> {
  const q = req.pathAndQuery.indexOf('?');
  const path = q === -1 ? req.pathAndQuery : req.pathAndQuery.slice(0, q);
  const failed = (err: unknown): never => {
    if (isSoakpError(err) && err.status === 401) deps.policies.authFailed(req.source);
    throw err;
  };
  let principal: Maybe<Principal>;
  try {
    principal = deps.auth.authenticate(req.headers, { method: req.method, path });
  } catch (err) {
    return failed(err);
  }
  if (principal instanceof Promise) return principal.catch(failed).then((p) => authorised(deps, req, path, p, onPrincipal));
  return authorised(deps, req, path, principal, onPrincipal);
}

function authorised(deps: ExchangeDeps, req: Incoming, path: string, principal: Principal, onPrincipal?: (p: Principal) => void): Maybe<Admitted> {
  onPrincipal?.(principal);
  const ctx: PolicyContext = { user: principal.user, token: principal.token, upstream: principal.upstream.name, family: endpointFamily(path), source: req.source };
  deps.policies.checkRoute(ctx);
  const { body } = req;
  if (!body || !deps.policies.needsFields(ctx)) return admitted(deps, req, principal, ctx, { fields: {}, body, complete: true });
  // The library's JSON is whole already; a request body is read (JSON up to the limit).
  if (Buffer.isBuffer(body)) return admitted(deps, req, principal, ctx, { fields: jsonFields(body), body, complete: true, whole: body });
  return inspectBody(body, String(req.headers['content-type'] ?? ''), deps.inspectLimit).then((inspected) => admitted(deps, req, principal, ctx, inspected));
}

function admitted(deps: ExchangeDeps, req: Incoming, principal: Principal, ctx: PolicyContext, inspected: Inspected | { fields: RequestFields; body: Readable | Buffer | null; complete: boolean; whole?: Buffer }): Maybe<Admitted> {
  let { headers } = req;
  let { fields } = inspected;
  // A body read whole is forwarded as one buffer: cheaper for undici than a replaying stream.
  let body = inspected.whole ?? inspected.body;
  if (inspected.whole && deps.policies.wantsStreamUsage(ctx, fields)) {
    body = withStreamUsage(inspected.whole);
    fields = { ...fields, streamUsage: true };
    headers = { ...headers, 'content-length': String(body.length) };
    delete headers['transfer-encoding'];
  }
  const model = fields.model ?? null;
  const make = (ticket: Ticket): Admitted => ({
    principal, ctx, headers, body, fields, ticket,
    finish: (observed, facts) => ticket.finish(observed, { status: facts.status, model, durationMs: facts.durationMs, bytesIn: facts.bytesIn, bytesOut: facts.bytesOut }),
  });
  const ticket = deps.policies.admit(ctx, fields, Number(headers['content-length'] ?? 0));
  return ticket instanceof Promise ? ticket.then(make) : make(ticket);
}
