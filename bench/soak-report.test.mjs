// The soak's leak check: a figure "grows" only when its growth stands out from the noise, a
// floor and the slope's own error; with 4 or more whole minutes each minute's lowest sample is
// what is fitted, so single spikes (a GC cycle, a burst of connections) cannot fake a leak.
import { describe, expect, it } from 'vitest';
import { fit, soakMarkdown } from './soak-report.mjs';

/** Samples every 10 s for `minutes`, each figure from `value(tSeconds, i)`. */
function samples(minutes, value) {
  const out = [];
  for (let i = 0, t = 10; t <= minutes * 60; i++, t += 10) {
    const v = value(t, i);
    out.push({ t, rssMb: v, heapUsedMb: 16, heapPhysicalMb: 50, mallocMainMb: 8, otherAnonMb: 9, fileMb: 48, externalMb: 3, fds: 37, sockets: 15 });
  }
  return out;
}

// Deterministic noise in [-0.5, 0.5) MB.
const noise = (i) => ((i * 7919) % 100) / 100 - 0.5;

describe('fit', () => {
  it('finds a steady rise, at its rate', () => {
    const r = fit(samples(10, (t, i) => 100 + (3 * t) / 60 + noise(i)), 10);
    expect(r.fittedTo).toBe('per-minute floors');
    expect(r.rssMb.perMinute).toBeGreaterThan(2.8);
    expect(r.rssMb.perMinute).toBeLessThan(3.2);
    expect(r.rssMb.grows).toBe(true);
    expect(r.fds.grows).toBe(false);
  });

  it('calls a flat, noisy figure flat', () => {
    const r = fit(samples(10, (t, i) => 120 + 2 * noise(i)), 10);
    expect(r.rssMb.grows).toBe(false);
  });

  it('is not fooled by a figure that is up most of the time late in the window but back at its floor every minute', () => {
    // From minute 6 on, five samples of six are 30 MB up (connections open, a GC cycle due);
    // a line through every sample would call that growth, the per-minute floors do not.
    const r = fit(samples(10, (t, i) => (t > 360 && i % 6 !== 0 ? 150 : 120)), 10);
    expect(r.rssMb.grows).toBe(false);
  });

  it('calls a rise within the noise no growth, even past the floor', () => {
    // Per-minute values zigzag by up to 10 MB and end higher than they start (+5 MB over the
    // window, past the 2 MB floor), but the rise is inside twice the noise.
    const zig = [0, 0, 6, -2, 7, -1, 8, 0, 9, 1, 10];
    const r = fit(samples(10, (t) => 120 + (zig[Math.floor(t / 60)] ?? 0)), 10);
    expect(r.rssMb.growth).toBeGreaterThan(2);
    expect(r.rssMb.grows).toBe(false);
  });

  it('leaves out the first minute (the warm-up), or --settle minutes', () => {
    // A climb for four minutes (V8 growing its young generation), then flat.
    const value = (t, i) => (t < 240 ? 80 + t / 3 : 160) + noise(i) / 10;
    expect(fit(samples(10, value), 10).rssMb.grows).toBe(true); // minutes 1–4 are inside the window
    const settled = fit(samples(10, value), 10, 4);
    expect(settled.fromS).toBe(240);
    expect(settled.rssMb.grows).toBe(false);
  });

  it('writes a verdict per figure, and lists the intervals that stalled', () => {
    const fits = fit(samples(10, (t, i) => 100 + (3 * t) / 60 + noise(i)), 10);
    const intervals = [0, 10, 20, 30].map((t) => ({ t, answered: 1000, p99Ms: 5, maxMs: t === 20 ? 1500 : 20, maxInFlight: 4, skipped: 0, failed: 0, loopDelayMaxMs: 10, noisePct: 0 }));
    const md = soakMarkdown({ date: 'now', minutes: 10, rate: 100, intervalS: 10, fits, counts: { ok: 1, failed: 0, skipped: 0 }, samples: intervals });
    expect(md).toMatch(/\| RSS \(MB\) \|[^\n]*\| \*\*grows\*\* \|/);
    expect(md).toMatch(/\| open file descriptors \|[^\n]*\| no growth beyond noise \|/);
    expect(md).toContain("event loop blocked over 200 ms: 1 of 3.");
    expect(md).toContain('| 0.3 | 1000 | 5.0 | 1500 |');
  });
});
