// The benchmark's arithmetic: what docs/benchmarks.md reports against the performance targets
// comes from summarise and toMarkdown, so a slip here would misreport every run.
import { describe, expect, it } from 'vitest';
import { summarise, toMarkdown } from './report.mjs';

const SCENARIOS = ['chat-c1', 'chat-c32', 'stream-c1', 'stream-c32'];

/** One round of one cell; `cpuSeconds` null for direct (no proxy process). */
function round(requests, cpuSeconds, p50Ms = 1, p99Ms = 2) {
  return { tool: 'wrk', requests, rps: requests / 3, p50Ms, p99Ms, errors: 0, non2xx: 0, noisePct: 0, loadCoreBusyPct: 50, cpuSeconds, attempts: 1 };
}

/** A target whose every cell costs `us` µs of CPU per request (over three rounds of 1,000 requests). */
function target(us, { p50 = 1, ttfb = [1, 1, 1], peak = 100 } = {}) {
  const scenarios = {};
  for (const id of SCENARIOS) scenarios[id] = [1, 2, 3].map(() => round(1000, us === null ? null : (us * 1000) / 1e6, p50, p50 * 2));
  const t = { scenarios, ttfb, ttfbNoisePct: 0 };
  if (us !== null) Object.assign(t, { idle: { rssMb: 70 }, after: { rssMb: 90, peakRssMb: peak, fds: 20 }, settled: { rssMb: 75, afterS: 75 } });
  return t;
}

const machine = { nproc: 2, cpuModel: 'test', memoryGb: 1, kernel: 'k', node: 'v20', nginx: null, wrk: 'wrk', commit: 'abc', dirty: false, loadavgAtEnd: [0, 0, 0], dist: 'd' };
const run = { loadTool: 'wrk', pinned: true, rounds: 3, seconds: 3, soakpPolicy: 'p', notes: [] };

describe('summarise', () => {
  it('pools CPU per request over the rounds (total CPU over total requests), not a mean of the rounds', () => {
    const t = target(100);
    // Round CPU 0.1 s, 0.1 s, 0.4 s over 1,000, 1,000 and 2,000 requests: 600 µs / 4,000 = 150 µs,
    // where a mean of the rounds' own figures (100, 100, 200) would say 133.3.
    t.scenarios['chat-c1'] = [round(1000, 0.1), round(1000, 0.1), round(2000, 0.4)];
    const s = summarise({ direct: target(null), soakp: t, bare: target(100) });
    expect(s.targets.soakp.scenarios['chat-c1'].cpuUsPerReq).toBeCloseTo(150, 6);
    expect(s.ratios['soakp/bare']['cpu chat-c1']).toBeCloseTo(1.5, 6);
  });

  it('reports a ratio at the limit as met and one over it as missed, by how much', () => {
    const s = summarise({ direct: target(null), soakp: target(130, { peak: 130 }), bare: target(100, { peak: 100 }) });
    const cpu = s.checks.find((c) => c.what === 'CPU/request, non-streaming (chat-c32), soakp/bare');
    expect(cpu).toMatchObject({ limit: 1.3, met: true });
    expect(cpu.value).toBeCloseTo(1.3, 9);
    const peak = s.checks.find((c) => c.what === 'peak RSS under load, soakp/bare');
    expect(peak.met).toBe(false); // 1.3 × bare's peak against a limit of 1.2
    const md = toMarkdown({ date: 'now', machine, run, summary: s });
    expect(md).toContain('| performance target | measured | limit | result |');
    expect(md).toContain('| peak RSS under load, soakp/bare | 1.30 × | 1.2 × | missed: 1.08 × the limit |');
    expect(md).toContain('| CPU/request, non-streaming (chat-c32), soakp/nginx | – × | 4 × | not measured (no nginx) |');
  });

  it('measures added latency and first-event time against direct', () => {
    const s = summarise({ direct: target(null, { p50: 0.05, ttfb: [0.2, 0.3, 0.4] }), soakp: target(100, { p50: 0.3, ttfb: [0.9, 1.0, 1.1] }), bare: target(100) });
    expect(s.targets.soakp.overDirect['chat-c1'].p50Ms).toBeCloseTo(0.25, 9);
    expect(s.targets.soakp.overDirect.firstEvent.p50Ms).toBeCloseTo(0.7, 9);
    const p50 = s.checks.find((c) => c.what === 'added latency over direct, chat c=1, p50');
    expect(p50).toMatchObject({ limit: 0.2, met: false });
    const md = toMarkdown({ date: 'now', machine, run, summary: s });
    expect(md).toContain('| added latency over direct, chat c=1, p50 | 0.250 ms | 0.2 ms | missed by 0.050 ms |');
    expect(md).toContain('| idle RSS (75 s after the load) | 75.00 MB | 80 MB | met |');
  });

  it('compares with nginx when it ran', () => {
    const s = summarise({ direct: target(null), soakp: target(200), bare: target(100), nginx: target(40) });
    const c1 = s.checks.find((c) => c.what === 'CPU/request, non-streaming (chat-c1), soakp/nginx');
    expect(c1.value).toBeCloseTo(5, 9);
    expect(c1.met).toBe(false);
  });

  it('compares soakp\'s stream-sdk scenario with its stream one (within 1.2×), and reports a run of only some scenarios', () => {
    const [direct, soakp, bare] = [target(null), target(100), target(100)];
    for (const t of [direct, soakp, bare]) {
      t.scenarios['stream-sdk-c1'] = [1, 2, 3].map(() => round(1000, t === direct ? null : 0.11));
      t.scenarios['stream-sdk-c32'] = [1, 2, 3].map(() => round(1000, t === direct ? null : 0.13));
    }
    const s = summarise({ direct, soakp, bare });
    expect(s.sdk.c1).toBeCloseTo(1.1, 9);
    expect(s.checks.find((c) => c.what === "CPU/request, soakp's stream-sdk-c32 over its stream-c32")).toMatchObject({ limit: 1.2, met: false });
    const only = (t) => ({ ...t, scenarios: { 'stream-sdk-c32': t.scenarios['stream-sdk-c32'] }, ttfb: [] });
    const partial = summarise({ direct: only(direct), soakp: only(soakp), bare: only(bare) });
    expect(partial.sdk).toEqual({});
    expect(toMarkdown({ date: 'd', machine, run, summary: partial })).toContain('| stream-sdk-c32 | soakp |');
  });
});
