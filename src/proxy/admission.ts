import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { endpointFamily } from '../domain/index.js';
import type { PolicyContext, PolicyEngine, Ticket, UsageObservation } from '../policy/index.js';
import { type Inspected, type RequestFields, jsonFields, readBody, streamFields, withStreamUsage } from './inspect.js';
import type { Inspection } from './inspection.js';
import { SoakpError, isSoakpError } from '../shared/index.js';
import type { Authenticator, Principal } from './authenticate.js';
import type { Forwarder } from './forward.js';

export interface AdmissionDeps {
  auth: Authenticator;
  forwarder: Forwarder;
  policies: PolicyEngine;
  inspection: Inspection;
}

/** One request on its way in, from any entry (HTTP, the library, a realtime upgrade). */
export interface Incoming {
  method: string;
  /** The part after /v1, with its query (already checked by upstreamPathOf). */
  pathAndQuery: string;
  headers: IncomingHttpHeaders;
  /** The headers as received, where there are some: a repeated credential header shows only here. */
  rawHeaders?: readonly string[];
  body: Readable | Buffer | null;
  /** Fields known without a body (a realtime session names its model in the query). */
  fields?: RequestFields;
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

/** Called once with the refusal or the admitted request. */
export type Admit = (err: unknown, admitted?: Admitted) => void;

/**
 * The pipeline's deciding steps, for every entry: authenticate →
 * scopes → (read the body only if a policy needs it) → rate limits and budget. Everything
 * refused is refused here, before a byte reaches the upstream. Each step answers at once
 * when it can (a known token, limits in memory, a budget pool to draw on): a request whose
 * body need not be read is then admitted, or refused, within this call; reading a body
 * costs its events, not a promise.
 */
export function admit(deps: AdmissionDeps, req: Incoming, onPrincipal: ((p: Principal) => void) | undefined, then: Admit): void {
  // Exactly once, whatever a step does after it answered (a throw from `then` itself included).
  let answered = false;
  const done: Admit = (err, admitted) => {
    if (answered) return;
    answered = true;
    then(err, admitted);
  };
  if (!FORWARDED_METHODS.has(req.method)) return done(new SoakpError('method_not_allowed', `soakp does not forward ${req.method.slice(0, 20)} requests.`, { headers: { allow: ALLOW } }));
  const q = req.pathAndQuery.indexOf('?');
  const path = q === -1 ? req.pathAndQuery : req.pathAndQuery.slice(0, q);
  const failed = (err: unknown): void => {
    if (isSoakpError(err) && err.status === 401) deps.policies.authFailed(req.source);
    done(err);
  };
  let principal: Maybe<Principal>;
  try {
    principal = deps.auth.authenticate(req.headers, { method: req.method, path }, req.rawHeaders);
  } catch (err) {
    return failed(err);
  }
  if (principal instanceof Promise) principal.then((p) => authorised(deps, req, path, p, onPrincipal, done), failed);
  else authorised(deps, req, path, principal, onPrincipal, done);
}

// The methods OpenAI's API uses. Others (TRACE echoes the request, key included) never leave.
const ALLOW = 'GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS';
const FORWARDED_METHODS: ReadonlySet<string> = new Set(ALLOW.split(', '));

function authorised(deps: AdmissionDeps, req: Incoming, path: string, principal: Principal, onPrincipal: ((p: Principal) => void) | undefined, done: Admit): void {
  try {
    onPrincipal?.(principal);
    const ctx: PolicyContext = { user: principal.user, token: principal.token, upstream: principal.upstream.name, family: endpointFamily(path), path, source: req.source, origin: req.headers.origin };
    deps.policies.checkRoute(ctx);
    const { body } = req;
    if (!body || !deps.policies.needsFields(ctx)) return admitted(deps, req, principal, ctx, { fields: req.fields ?? {}, body, complete: true }, done);
    // Only to ask for a stream's usage: the prompt is not walked.
    const fieldsOf = deps.policies.streamFieldsOnly(ctx) ? streamFields : jsonFields;
    // The library's JSON is whole already; a request body is read (JSON up to the limit).
    if (Buffer.isBuffer(body)) return admitted(deps, req, principal, ctx, { fields: fieldsOf(body), body, complete: true, whole: body }, done);
    readBody(body, String(req.headers['content-type'] ?? ''), Number(req.headers['content-length'] ?? 0), deps.inspection, (err, inspected) => {
      if (err) return done(err);
      const read = inspected as Inspected;
      // What was read stays counted against the cap until admission decides (a prompt may be counted meanwhile).
      let held = read.held;
      const release: Admit = (e, a) => {
        deps.inspection.held.give(held);
        held = 0;
        done(e, a);
      };
      admitted(deps, req, principal, ctx, read.complete ? read : { ...read, fields: { ...read.fields, unread: deps.inspection.limit } }, release);
    }, fieldsOf);
  } catch (err) {
    done(err);
  }
}

function admitted(deps: AdmissionDeps, req: Incoming, principal: Principal, ctx: PolicyContext, inspected: Inspected | { fields: RequestFields; body: Readable | Buffer | null; complete: boolean; whole?: Buffer }, done: Admit): void {
  let ticket: Maybe<Ticket>;
  let headers = req.headers;
  let { fields } = inspected;
  // A body read whole is forwarded as one buffer: cheaper for undici than a replaying stream.
  let body = inspected.whole ?? inspected.body;
  try {
    if (inspected.whole && deps.policies.wantsStreamUsage(ctx, fields)) {
      body = withStreamUsage(inspected.whole);
      fields = { ...fields, streamUsage: true, usageAdded: true };
      headers = { ...headers, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
    }
    ticket = deps.policies.admit(ctx, fields, Number(headers['content-length'] ?? 0));
  } catch (err) {
    return done(err);
  }
  const model = fields.model ?? null;
  const make = (t: Ticket): Admitted => ({
    principal, ctx, headers, body, fields, ticket: t,
    finish: (observed, facts) => t.finish(observed, { status: facts.status, model, durationMs: facts.durationMs, bytesIn: facts.bytesIn, bytesOut: facts.bytesOut }),
  });
  if (ticket instanceof Promise) ticket.then((t) => done(null, make(t)), done);
  else done(null, make(ticket));
}
