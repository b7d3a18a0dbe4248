import { createHash } from 'node:crypto';
import type { AuditEntry, AuditInput } from '../domain/usage.js';

export type ChainCheck = { ok: true; count: number } | { ok: false; count: number; brokenAt: number; reason: string };

/**
 * The hash of one entry: SHA-256 (hex) over a canonical JSON of its fields and the previous
 * entry's hash. Canonical means object keys sorted at every depth, so the hash does not
 * depend on the order in which a caller built `details` or the database returned it.
 * Only the named fields count: an `AuditEntry` (with id and hash) hashes like its input.
 */
export function entryHash(prevHash: string, entry: AuditInput): string {
  const { at, actor, action, target, details, source } = entry;
  return createHash('sha256').update(canonicalJson({ at, actor, action, target, details, source, prevHash })).digest('hex');
}

/**
 * JSON.stringify with sorted keys. Everything else (dropped undefined, toJSON, -0 as 0) is
 * JSON.stringify's own behaviour, which is exactly what the store writes `details` with:
 * the hash computed before storing equals the hash recomputed after reading back.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/**
 * Checks a run of entries in id order, as `AuditRepo.list()` returns them.
 *
 * Detected: an edited entry (its hash no longer matches its fields), a deleted entry (the
 * next one's prevHash no longer names its predecessor, or ids skip), reordering (ids not
 * ascending, or links broken), and — when `complete` (the whole log, the default) — entries
 * removed from the very start (the first entry must open the chain with an empty prevHash).
 *
 * Out of scope: removing the newest entries (the tail leaves no trace among the entries
 * left; the store's audit_head row would be needed) and an attacker who rewrites every hash
 * from the edit onwards — the chain has no secret key, so it proves order and integrity
 * against careless or partial tampering, not against someone holding write access and time.
 *
 * `count` is the number of entries found intact before the break (all of them when ok).
 */
export function verifyChain(entries: readonly AuditEntry[], options: { complete?: boolean } = {}): ChainCheck {
  const complete = options.complete ?? true;
  for (const [i, e] of entries.entries()) {
    const broken = (reason: string): ChainCheck => ({ ok: false, count: i, brokenAt: e.id, reason });
    const prev = entries[i - 1];
    if (prev === undefined) {
      if (complete && e.prevHash !== '') return broken('the first entry does not open the chain: earlier entries were removed');
    } else {
      if (e.id <= prev.id) return broken(`entries are out of order (id ${e.id} after id ${prev.id})`);
      if (e.prevHash !== prev.hash) return broken(`it does not follow entry ${prev.id}: an entry was removed, reordered or rewritten`);
    }
    if (entryHash(e.prevHash, e) !== e.hash) return broken('its contents do not match its hash: the entry was edited');
    // Ids come from one autoincrement inside the append transaction, so a gap means a
    // removal that someone tried to paper over by re-linking the hashes.
    if (prev !== undefined && e.id !== prev.id + 1) return broken(`entries ${prev.id + 1}–${e.id - 1} are missing`);
  }
  return { ok: true, count: entries.length };
}
