import { createHash } from 'node:crypto';
import type { AuditEntry, AuditInput } from '../domain/index.js';

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

/** The stored head of the chain, and whether its MAC holds under the master key's audit-head key. */
export interface HeadCheck {
  seq: number;
  hash: string;
  authentic: boolean;
}

/**
 * Checks a run of entries in id order, as `AuditRepo.list()` returns them.
 *
 * Detected: an edited entry (its hash no longer matches its fields), a deleted entry (the
 * next one's prevHash no longer names its predecessor, or ids skip), reordering (ids not
 * ascending, or links broken), and — when `complete` (the whole log, the default) — entries
 * removed from the very start (the first entry must open the chain with an empty prevHash).
 *
 * With `head` (the whole log only), also the end: the head records how many entries were
 * ever appended and the last hash, under a MAC keyed by a key derived from the master key.
 * Deleting the newest entries, or rewriting them and moving the head to match, needs that
 * key. Not detected: the whole database put back to an earlier copy (a restored backup), whose
 * head was genuine at the time.
 *
 * `count` is the number of entries found intact before the break (all of them when ok).
 */
export function verifyChain(entries: readonly AuditEntry[], options: { complete?: boolean; head?: HeadCheck } = {}): ChainCheck {
  const complete = options.complete ?? true;
  const head = options.head;
  if (head && !head.authentic) {
    return { ok: false, count: 0, brokenAt: head.seq, reason: 'the audit head is not authenticated: it was rewritten by someone without the master key' };
  }
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
  const last = entries.at(-1);
  if (head && (head.seq !== entries.length || head.hash !== (last?.hash ?? ''))) {
    const reason = head.seq > entries.length
      ? `the head records ${head.seq} entries but the log holds ${entries.length}: entries were removed from its end`
      : `the head records ${head.seq} entries but the log holds ${entries.length}, ending elsewhere: entries were added or rewritten behind the head`;
    return { ok: false, count: entries.length, brokenAt: (last?.id ?? 0) + 1, reason };
  }
  return { ok: true, count: entries.length };
}
