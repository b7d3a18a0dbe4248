import type { Limits } from '../domain/index.js';
import type { FreeSlot } from './rate-limit-concurrency.js';
import type { Refusal, WindowState } from './rate-limit-headers.js';
import type { WindowCount, WindowCounter } from './rate-limit-window.js';
import type { RateLimitSubject } from './ports.js';

/**
 * One limit of one subject, counted (or tried) for one request. Every step that reached the
 * backend is kept, granted or not, because a refused window add has still been counted and
 * must be taken back like a granted one when the admission as a whole fails.
 */
export type Step =
  | { readonly type: 'window'; readonly kind: 'rpm' | 'tpm'; readonly subject: RateLimitSubject; readonly limit: number; readonly points: number; readonly at: WindowCount }
  | { readonly type: 'slot'; readonly subject: RateLimitSubject; readonly limit: number; readonly free: FreeSlot | null };

export type Windows = Readonly<Record<'rpm' | 'tpm', WindowCounter>>;

/** A limit is set when it is a positive number; 0 or absent means none (as in isEmptyPolicy). */
export function limitOf(limits: Limits, kind: keyof Limits): number | undefined {
  const v = limits[kind];
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

/** The library counts whole points; a fractional or absent estimate is rounded up or taken as 0. */
export function wholeTokens(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.ceil(n) : 0;
}

/** Counts one limit; synchronous in memory, a promise with Redis. */
export function countIn(windows: Windows, kind: 'rpm' | 'tpm', subject: RateLimitSubject, limit: number, points: number): Step | Promise<Step> {
  const at = windows[kind].add(subject.key, points);
  if (at instanceof Promise) return at.then((count) => ({ type: 'window', kind, subject, limit, points, at: count }));
  return { type: 'window', kind, subject, limit, points, at };
}

export function granted(step: Step): boolean {
  return step.type === 'slot' ? step.free !== null : step.at.count <= step.limit;
}

/** Takes back what this step counted or held. */
export function undo(windows: Windows, step: Step): void | Promise<void> {
  if (step.type === 'slot') return step.free?.();
  return windows[step.kind].refund(step.subject.key, step.points, step.at);
}

/** Replaces a TPM step's estimate by what was used: the difference back, or the overrun charged. */
export function settle(windows: Windows, step: Step, usedTokens: number): void | Promise<void> {
  if (step.type === 'slot') return step.free?.();
  if (step.kind === 'rpm') return; // a request counts once it was made
  const diff = usedTokens - step.points;
  const counter = windows.tpm;
  return diff < 0 ? counter.refund(step.subject.key, -diff, step.at) : counter.charge(step.subject.key, diff);
}

/**
 * The window state of `kind` with the least room left, for the headers.
 * `before`: the room there was before this request — what a refused client is told, since its
 * own points are taken back.
 */
export function tightestState(steps: readonly Step[], kind: 'rpm' | 'tpm', before: boolean): WindowState | undefined {
  let best: WindowState | undefined;
  for (const s of steps) {
    if (s.type !== 'window' || s.kind !== kind) continue;
    const state = { limit: s.limit, remaining: s.limit - s.at.count + (before ? s.points : 0), msLeft: s.at.msLeft };
    // As `tightest`: least room left, then the longest wait.
    if (!best || state.remaining < best.remaining || (state.remaining === best.remaining && state.msLeft > best.msLeft)) best = state;
  }
  return best;
}

export function refusalOf(step: Step): Refusal {
  return step.type === 'slot'
    ? { limit: 'concurrency', subjectKey: step.subject.key, value: step.limit }
    : { limit: step.kind, subjectKey: step.subject.key, value: step.limit, msLeft: step.at.msLeft, asked: step.points };
}
