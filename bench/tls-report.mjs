// Figures from the HTTPS run (bench/tls.mjs): what TLS adds to soakp's and to nginx's CPU per
// request and latency, the check against the target (soakp's addition at most 1.5 × nginx's),
// and the Markdown tables that docs/benchmarks.md copies.

export const TLS_SCENARIOS = ['keepalive-c1', 'keepalive-c32', 'handshake-c1', 'resumed-c1'];
/** soakp's added CPU per request over nginx's, at most. */
export const TLS_ADDED_LIMIT = 1.5;
const PROXIES = ['soakp', 'bare', 'nginx'];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const sum = (xs) => xs.reduce((n, x) => n + x, 0);

/** Medians over the rounds; CPU per request pooled (total CPU / total requests), as report.mjs. */
function cell(rounds) {
  const reqs = sum(rounds.map((x) => x.requests));
  const counted = rounds.filter((x) => x.handshakes !== undefined);
  return {
    rps: median(rounds.map((x) => x.rps)), p50Ms: median(rounds.map((x) => x.p50Ms)), p99Ms: median(rounds.map((x) => x.p99Ms)),
    cpuUsPerReq: (sum(rounds.map((x) => x.cpuSeconds)) / reqs) * 1e6,
    requests: reqs, errors: sum(rounds.map((x) => x.errors + x.non2xx)), noisePct: Math.max(...rounds.map((x) => x.noisePct)), loadCoreBusyPct: median(rounds.map((x) => x.loadCoreBusyPct)), retried: rounds.filter((x) => x.attempts > 1).length,
    // TLS connections the client made, and how many resumed a session (nodeload over https only).
    handshakes: counted.length ? sum(counted.map((x) => x.handshakes)) : null,
    resumed: counted.length ? sum(counted.map((x) => x.resumed)) : null,
  };
}

/**
 * `results`: { soakp, 'soakp-tls', nginx, 'nginx-tls' } (nginx's may be missing), each
 * { scenarios: { id: [round, …] } }, a round as runLoad returns it plus cpuSeconds, noisePct,
 * loadCoreBusyPct and attempts.
 */
export function summariseTls(results) {
  const targets = {};
  for (const [name, r] of Object.entries(results)) {
    targets[name] = { scenarios: {} };
    for (const [id, rounds] of Object.entries(r.scenarios)) targets[name].scenarios[id] = cell(rounds);
  }
  // What TLS adds: the TLS process's figure minus the plain one's, per proxy and scenario.
  const added = {};
  for (const proxy of PROXIES) {
    const plain = targets[proxy];
    const tls = targets[`${proxy}-tls`];
    if (!plain || !tls) continue;
    added[proxy] = {};
    for (const [id, t] of Object.entries(tls.scenarios)) {
      const p = plain.scenarios[id];
      if (p) added[proxy][id] = { cpuUs: t.cpuUsPerReq - p.cpuUsPerReq, p50Ms: t.p50Ms - p.p50Ms, p99Ms: t.p99Ms - p.p99Ms };
    }
  }
  // soakp's addition over nginx's (and bare's); none when the other's is not above zero (then no
  // ratio means anything).
  const ratios = {};
  for (const ref of ['nginx', 'bare']) {
    if (!added.soakp || !added[ref]) continue;
    const r = (ratios[`soakp/${ref}`] = {});
    for (const id of Object.keys(added.soakp)) {
      const n = added[ref][id];
      if (n) r[id] = n.cpuUs > 0 ? added.soakp[id].cpuUs / n.cpuUs : null;
    }
  }
  const checks = [];
  const rn = ratios['soakp/nginx'] ?? {};
  for (const id of Object.keys(added.soakp ?? {})) {
    const what = `CPU TLS adds per request (${id}), soakp's over nginx's`;
    if (!(id in rn)) checks.push({ what, value: null, limit: TLS_ADDED_LIMIT, unit: '×', met: null, why: 'no nginx' });
    else if (rn[id] === null) checks.push({ what, value: null, limit: TLS_ADDED_LIMIT, unit: '×', met: null, why: 'TLS added nothing measurable to nginx' });
    // (A ratio at the limit but for rounding in the last bits is met.)
    else checks.push({ what, value: rn[id], limit: TLS_ADDED_LIMIT, unit: '×', met: rn[id] <= TLS_ADDED_LIMIT + 1e-9 });
  }
  return { targets, added, ratios, checks };
}

const f = (x, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));
const signed = (x, digits) => (x === null || x === undefined ? '–' : `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`);

export function tlsMarkdown({ date, machine: m, run, summary }) {
  const L = [];
  L.push(`Run ${date} on ${m.nproc} × ${m.cpuModel}, ${m.memoryGb} GB, Linux ${m.kernel}; Node ${m.node} (OpenSSL ${m.nodeOpenssl}); nginx ${m.nginx ?? 'not installed'} (OpenSSL ${m.nginxOpenssl ?? '–'}); ${m.wrk ?? 'wrk not installed'}; soakp ${m.commit}${m.dirty ? ' (src/ modified)' : ''}, build dist/ ${m.dist}.`);
  L.push(`TLS: ${run.tls.protocol}, ${run.tls.cipher}, ${run.tls.group}, one ${run.tls.certificate} certificate for all; ${Object.keys(summary.targets).filter((n) => !n.endsWith('-tls')).join(', ')}: each runs plain and with TLS. Body: a non-streaming chat request; soakp's token: \`${run.soakpPolicy}\`.`);
  L.push(`Load: keep-alive by ${run.keepAliveTool}, a new connection per request by nodeload${run.pinned ? '; proxies pinned to core 0, upstream and load to core 1' : ', unpinned'}; ${run.rounds} rounds × ${run.seconds} s per cell, order alternating; load average at the end ${m.loadavgAtEnd.join(' ')}.`);
  const retried = sum(Object.values(summary.targets).map((t) => sum(Object.values(t.scenarios).map((c) => c.retried))));
  L.push(`Noise: as in the main run; ${retried} cell(s) were measured again in this run.`);
  for (const n of run.notes) L.push(`Note: ${n}`);
  const names = Object.keys(summary.targets);
  const ids = TLS_SCENARIOS.filter((id) => names.some((n) => summary.targets[n].scenarios[id]));
  L.push('', '| scenario | target | req/s | p50 ms | p99 ms | proxy CPU µs/req | TLS sessions resumed | errors | noise (max) | load core busy |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const id of ids) {
    for (const n of names) {
      const c = summary.targets[n].scenarios[id];
      if (!c) continue;
      const resumed = c.handshakes ? `${f((100 * c.resumed) / c.handshakes, 1)}% of ${c.handshakes}` : '–';
      L.push(`| ${id} | ${n} | ${f(c.rps, 0)} | ${f(c.p50Ms, 3)} | ${f(c.p99Ms, 3)} | ${f(c.cpuUsPerReq, 1)} | ${resumed} | ${c.errors} | ${f(c.noisePct, 1)}% | ${f(c.loadCoreBusyPct, 0)}% |`);
    }
  }
  const proxies = Object.keys(summary.added);
  if (proxies.length > 0) {
    const cpu = (p, id) => `${f(summary.targets[p].scenarios[id]?.cpuUsPerReq, 1)} / ${f(summary.targets[`${p}-tls`].scenarios[id]?.cpuUsPerReq, 1)}`;
    const refs = Object.keys(summary.ratios);
    L.push('', `| scenario | ${proxies.map((p) => `${p}: CPU µs/req plain / TLS | ${p}: TLS adds µs`).join(' | ')} |${refs.map((r) => ` ${r.replace('/', '\'s addition ÷ ')}'s |`).join('')}`, `| --- |${proxies.map(() => ' ---: | ---: |').join('')}${refs.map(() => ' ---: |').join('')}`);
    for (const id of ids) {
      if (!proxies.every((p) => summary.added[p][id])) continue;
      L.push(`| ${id} | ${proxies.map((p) => `${cpu(p, id)} | ${signed(summary.added[p][id].cpuUs, 1)}`).join(' | ')} |${refs.map((r) => ` ${f(summary.ratios[r][id])} |`).join('')}`);
    }
    L.push('', `| scenario | ${proxies.map((p) => `${p}: TLS adds p50 / p99 ms`).join(' | ')} |`, `| --- |${proxies.map(() => ' ---: |').join('')}`);
    for (const id of ids) {
      if (!proxies.every((p) => summary.added[p][id])) continue;
      L.push(`| ${id} | ${proxies.map((p) => `${signed(summary.added[p][id].p50Ms, 3)} / ${signed(summary.added[p][id].p99Ms, 3)}`).join(' | ')} |`);
    }
  }
  L.push('', '| performance target | measured | limit | result |', '| --- | ---: | ---: | --- |');
  for (const c of summary.checks) {
    const result = c.met === null ? `not measured (${c.why})` : c.met ? 'met' : `missed: ${f(c.value / c.limit)} × the limit`;
    L.push(`| ${c.what} | ${f(c.value)} ${c.unit} | ${c.limit} ${c.unit} | ${result} |`);
  }
  return `${L.join('\n')}\n`;
}
