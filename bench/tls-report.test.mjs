// The HTTPS run's arithmetic: what TLS adds is a difference of two pooled figures, and the
// check is soakp's addition over nginx's; a slip here would misreport every run.
import { describe, expect, it } from 'vitest';
import { summariseTls, tlsMarkdown } from './tls-report.mjs';

/** One round of one cell: `us` µs of CPU per request over `requests`; `resumed` of `handshakes` from nodeload over https. */
function round(requests, us, { p50Ms = 1, p99Ms = 2, handshakes, resumed } = {}) {
  const r = { tool: 'wrk', requests, rps: requests / 3, p50Ms, p99Ms, errors: 0, non2xx: 0, noisePct: 0, loadCoreBusyPct: 50, cpuSeconds: (us * requests) / 1e6, attempts: 1 };
  return handshakes === undefined ? r : { ...r, tool: 'nodeload', handshakes, resumed };
}

/** A target whose cells cost `us` µs per request in every scenario (three rounds of 1,000 requests). */
function target(us, extra = {}) {
  const scenarios = {};
  for (const id of ['keepalive-c1', 'keepalive-c32', 'handshake-c1', 'resumed-c1']) scenarios[id] = [1, 2, 3].map(() => round(1000, us, extra));
  return { scenarios };
}

const machine = { nproc: 2, cpuModel: 'test', memoryGb: 1, kernel: 'k', node: 'v20', nodeOpenssl: '3.0.19', nginx: 'nginx/1.22.1', nginxOpenssl: '3.0.19', wrk: 'wrk', commit: 'abc', dirty: false, loadavgAtEnd: [0, 0, 0], dist: 'd' };
const run = { rounds: 3, seconds: 3, pinned: true, keepAliveTool: 'wrk', tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256', group: 'X25519', certificate: 'ECDSA P-256, self-signed' }, soakpPolicy: 'p', notes: [] };

describe('summariseTls', () => {
  it('reads what TLS adds as the TLS process\'s pooled CPU per request less the plain one\'s, and checks soakp\'s against 1.5 × nginx\'s', () => {
    const soakpTls = target(130);
    // Pooled, not a mean of the rounds: 0.13 + 0.13 + 0.52 s over 4,000 requests is 195 µs.
    soakpTls.scenarios['handshake-c1'] = [round(1000, 130), round(1000, 130), round(2000, 260)];
    const s = summariseTls({ soakp: target(100), 'soakp-tls': soakpTls, nginx: target(40), 'nginx-tls': target(60) });
    expect(s.added.soakp['keepalive-c32'].cpuUs).toBeCloseTo(30, 9);
    expect(s.added.nginx['keepalive-c32'].cpuUs).toBeCloseTo(20, 9);
    expect(s.ratios['soakp/nginx']['keepalive-c32']).toBeCloseTo(1.5, 9);
    expect(s.checks.find((c) => c.what.includes('(keepalive-c32)'))).toMatchObject({ limit: 1.5, met: true });
    expect(s.added.soakp['handshake-c1'].cpuUs).toBeCloseTo(95, 9);
    expect(s.checks.find((c) => c.what.includes('(handshake-c1)'))).toMatchObject({ met: false });
    expect(s.ratios['soakp/bare']).toBeUndefined();
  });

  it('gives no ratio when TLS added nothing to nginx, and says why', () => {
    const s = summariseTls({ soakp: target(100), 'soakp-tls': target(110), nginx: target(40), 'nginx-tls': target(39) });
    expect(s.ratios['soakp/nginx']['keepalive-c1']).toBeNull();
    expect(s.checks[0]).toMatchObject({ value: null, met: null, why: 'TLS added nothing measurable to nginx' });
    const md = tlsMarkdown({ date: 'now', machine, run, summary: s });
    expect(md).toContain("| CPU TLS adds per request (keepalive-c1), soakp's over nginx's | – × | 1.5 × | not measured (TLS added nothing measurable to nginx) |");
    const alone = summariseTls({ soakp: target(100), 'soakp-tls': target(110) });
    expect(alone.checks[0]).toMatchObject({ met: null, why: 'no nginx' });
  });

  it('counts resumed sessions over the rounds and prints the tables', () => {
    const resumed = { ...target(60, { handshakes: 1000, resumed: 990 }) };
    const s = summariseTls({ soakp: target(100), 'soakp-tls': resumed, bare: target(80), 'bare-tls': target(110), nginx: target(40), 'nginx-tls': target(50) });
    expect(s.targets['soakp-tls'].scenarios['resumed-c1']).toMatchObject({ handshakes: 3000, resumed: 2970 });
    expect(s.targets.soakp.scenarios['resumed-c1'].handshakes).toBeNull();
    expect(s.ratios['soakp/bare']['keepalive-c1']).toBeCloseTo(-40 / 30, 9);
    const md = tlsMarkdown({ date: 'now', machine, run, summary: s });
    expect(md).toContain('| resumed-c1 | soakp-tls | 333 | 1.000 | 2.000 | 60.0 | 99.0% of 3000 | 0 | 0.0% | 50% |');
    expect(md).toContain("| scenario | soakp: CPU µs/req plain / TLS | soakp: TLS adds µs | bare: CPU µs/req plain / TLS | bare: TLS adds µs | nginx: CPU µs/req plain / TLS | nginx: TLS adds µs | soakp's addition ÷ nginx's | soakp's addition ÷ bare's |");
    expect(md).toContain('| keepalive-c1 | 100.0 / 60.0 | -40.0 | 80.0 / 110.0 | +30.0 | 40.0 / 50.0 | +10.0 | -4.00 | -1.33 |');
    expect(md).toContain('| keepalive-c1 | +0.000 / +0.000 | +0.000 / +0.000 | +0.000 / +0.000 |');
  });
});
