import { afterEach, describe, expect, it } from 'vitest';
import type { Limits } from '../domain/policy.js';
import { SoakpError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { formatReset } from './rate-limit-headers.js';
import { createRateLimiter } from './rate-limiter.js';
import type { Admission, RateLimiter, RateLimitSubject } from './ports.js';

const logger = createLogger('silent');
const limiters: RateLimiter[] = [];
afterEach(async () => {
  await Promise.all(limiters.splice(0).map((l) => l.close()));
});

function limiter(): RateLimiter {
  const l = createRateLimiter({ logger });
  limiters.push(l);
  return l;
}

const token = (limits: Limits, id = 't1'): RateLimitSubject => ({ key: `token:${id}`, limits });
const user = (limits: Limits, id = 'u1'): RateLimitSubject => ({ key: `user:${id}`, limits });

/** Runs the admits in parallel and sorts the outcomes. */
async function burst(n: number, admit: (i: number) => Promise<Admission>) {
  const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => admit(i)));
  const admitted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as SoakpError] : []));
  return { admitted, refused };
}

async function refusal(p: Promise<unknown>): Promise<SoakpError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(SoakpError);
  expect((err as SoakpError).code).toBe('rate_limited');
  return err as SoakpError;
}

describe('rate limiter (memory)', () => {
  it('admits exactly rpm of 100 parallel requests and refuses the rest with 429 and headers', async () => {
    const rl = limiter();
    const { admitted, refused } = await burst(100, () => rl.admit([token({ rpm: 10 })], 50));
    expect(admitted).toHaveLength(10);
    expect(refused).toHaveLength(90);
    expect(admitted.map((a) => a.headers['x-ratelimit-remaining-requests']).sort()).toEqual(
      ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    );
    for (const err of refused) {
      expect(err.status).toBe(429);
      expect(err.message).toMatch(/^Rate limit reached for requests per minute \(limit 10\) on this token; try again in \d+ s\.$/);
      expect(Number(err.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number.isInteger(Number(err.headers['retry-after']))).toBe(true);
      expect(err.headers['x-ratelimit-limit-requests']).toBe('10');
      expect(err.headers['x-ratelimit-remaining-requests']).toBe('0');
      expect(err.headers['x-ratelimit-reset-requests']).toMatch(/^(\d+ms|\d+s|\d+m\d+s)$/);
      expect(err.headers['x-ratelimit-limit-tokens']).toBeUndefined(); // no TPM limit applies
    }
  });

  it('holds exactly `concurrency` slots; releasing one lets exactly one more in', async () => {
    const rl = limiter();
    const subject = [token({ concurrency: 3 })];
    const first = await burst(20, () => rl.admit(subject, 0));
    expect(first.admitted).toHaveLength(3);
    expect(first.refused.every((e) => e.status === 429 && /concurrent requests \(limit 3\)/.test(e.message))).toBe(true);
    expect(first.refused[0]?.headers['retry-after']).toBe('1');

    await first.admitted[0]?.release(0);
    const second = await burst(10, () => rl.admit(subject, 0));
    expect(second.admitted).toHaveLength(1);
  });

  it('a double release frees one slot, not two', async () => {
    const rl = limiter();
    const subject = [token({ concurrency: 2 })];
    const a = await rl.admit(subject, 0);
    await rl.admit(subject, 0);
    await a.release(0);
    await a.release(0);
    const again = await burst(5, () => rl.admit(subject, 0));
    expect(again.admitted).toHaveLength(1);
  });

  it('adds token estimates, refuses one that would overrun, and settles on the actual count', async () => {
    const rl = limiter();
    const subject = [token({ tpm: 1000 })];
    const a = await rl.admit(subject, 400);
    const b = await rl.admit(subject, 400);
    expect(b.headers).toMatchObject({ 'x-ratelimit-limit-tokens': '1000', 'x-ratelimit-remaining-tokens': '200' });
    const err = await refusal(rl.admit(subject, 300));
    expect(err.message).toMatch(/tokens per minute \(limit 1000\) on this token/);
    expect(err.headers['x-ratelimit-remaining-tokens']).toBe('200'); // the refused 300 is not counted

    await a.release(100); // 300 of the estimate come back: 200 + 300 = 500 left
    await refusal(rl.admit(subject, 501));
    const c = await rl.admit(subject, 500);
    expect(c.headers['x-ratelimit-remaining-tokens']).toBe('0');
    await b.release(400);
  });

  it('charges tokens used beyond the estimate', async () => {
    const rl = limiter();
    const subject = [token({ tpm: 1000 })];
    await (await rl.admit(subject, 100)).release(600);
    await refusal(rl.admit(subject, 401));
    await rl.admit(subject, 400);
  });

  it('refuses an estimate larger than tpm outright, without counting it', async () => {
    const rl = limiter();
    const subject = [token({ tpm: 1000 })];
    const err = await refusal(rl.admit(subject, 5000));
    expect(err.message).toMatch(/^Request too large for tokens per minute \(limit 1000\) on this token: it needs about 5000 tokens/);
    expect(err.headers).toMatchObject({ 'x-ratelimit-limit-tokens': '1000', 'x-ratelimit-remaining-tokens': '1000' });
    await rl.admit(subject, 1000); // the whole minute's room is still there
  });

  it('is all-or-nothing across subjects: a user refusal leaves no count on the token', async () => {
    const rl = limiter();
    const t = token({ rpm: 3, tpm: 300, concurrency: 1 });
    const u = user({ rpm: 1 });
    await (await rl.admit([t, u], 100)).release(100);
    const err = await refusal(rl.admit([t, u], 100));
    expect(err.message).toMatch(/requests per minute \(limit 1\) on this user/);
    // Each admit below would be refused had the refused one left its counts on the token.
    const second = await rl.admit([t], 200); // needs the slot and 200 of the 300 tokens
    await second.release(200);
    await rl.admit([t], 0); // the third of three requests
    const fourth = await refusal(rl.admit([t], 0));
    expect(fourth.message).toMatch(/requests per minute \(limit 3\) on this token/);
  });

  it('gives a refused user concurrency slot back to the token limits too', async () => {
    const rl = limiter();
    const t = token({ rpm: 2 }, 't2');
    const u = user({ concurrency: 1 }, 'u2');
    const held = await rl.admit([t, u], 0);
    await refusal(rl.admit([t, u], 0)); // user slot taken: the token's request count must come back
    await held.release(0);
    await rl.admit([t], 0); // second of two requests
    await refusal(rl.admit([t], 0));
  });

  it('skips subjects without limits and sends no rate headers for them', async () => {
    const rl = limiter();
    const { admitted } = await burst(50, () => rl.admit([token({}), user({ rpm: 0 })], 10));
    expect(admitted).toHaveLength(50);
    expect(admitted[0]?.headers).toEqual({});
  });

  it('reports the tightest subject in the admission headers', async () => {
    const rl = limiter();
    const a = await rl.admit([token({ rpm: 100, tpm: 10_000 }), user({ rpm: 5, tpm: 100_000 })], 1000);
    expect(a.headers).toMatchObject({
      'x-ratelimit-limit-requests': '5',
      'x-ratelimit-remaining-requests': '4',
      'x-ratelimit-limit-tokens': '10000',
      'x-ratelimit-remaining-tokens': '9000',
    });
    expect(a.headers['x-ratelimit-reset-requests']).toMatch(/^(\d+s|1m0s)$/);
  });

  it('formats resets the way OpenAI does', () => {
    expect(formatReset(20)).toBe('20ms');
    expect(formatReset(5400)).toBe('6s');
    expect(formatReset(60_000)).toBe('1m0s');
    expect(formatReset(61_500)).toBe('1m2s');
  });
});
