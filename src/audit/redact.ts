import type { AuditInput } from '../domain/index.js';
import type { AuditInputLite } from './ports.js';

const REDACTED = '[redacted]';
const MAX_STRING = 1000;
const MAX_DEPTH = 8;
// Field names that only ever carry credentials: their string values go, whatever they look like.
const SECRET_NAMES = /^(key|api_?key|token|secret|password|authorization|jwt_?secret|master_?key)$/i;

/**
 * The entry to append for `input`, made safe. Callers pass ids, emails and names only; this
 * is the second line: anything that looks like a key, token or JWT becomes '[redacted]',
 * strings are capped and made well-formed (so what is hashed is what SQLite stores and
 * returns), and `details` is reduced to plain JSON before it is hashed.
 */
export function auditInput(input: AuditInputLite, at: number): AuditInput {
  return {
    at,
    actor: text(input.actor, 200),
    action: text(input.action, 100),
    target: input.target == null ? null : text(input.target, 300),
    details: scrub(toPlainJson(input.details ?? {})) as Record<string, unknown>,
    source: input.source == null ? null : text(input.source, 200),
  };
}

/** A copy of a plain JSON value with secret-looking strings redacted, recursively. */
export function scrub(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return text(value, MAX_STRING);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[text(k, 100)] = typeof v === 'string' && SECRET_NAMES.test(k) ? REDACTED : scrub(v, depth + 1);
  }
  return out;
}

/** True for text that is, or carries, a credential: `sk-…` keys and tokens, bearer values, JWTs. */
export function looksSecret(s: string): boolean {
  // Masked forms (`sk-…a1b2`, `sk-soakp-Xy3a…`) are made to be shown; real keys are ASCII only.
  if (s.length <= 24 && s.includes('…')) return false;
  return /^\s*(bearer\s+)?sk-/i.test(s) || /(^|[^A-Za-z0-9])sk-[A-Za-z0-9_-]{8,}/.test(s) || /^\s*bearer\s/i.test(s) || /eyJ[\w-]{8,}\.[\w-]{8,}\./.test(s);
}

function text(s: string, max: number): string {
  // Through UTF-8 and back: lone surrogates become U+FFFD now rather than in the database.
  if (looksSecret(s)) return REDACTED; // the whole string, before a cut could split a key
  return Buffer.from(s.slice(0, max), 'utf8').toString('utf8');
}

function toPlainJson(details: unknown): unknown {
  try {
    // toJSON runs here (a Secret prints '[secret]', a Date its ISO time); bigints become strings.
    const json = JSON.stringify(details, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    const parsed: unknown = json === undefined ? {} : JSON.parse(json);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : { value: parsed };
  } catch {
    return { unserialisable: true };
  }
}
