// Figures from the raw runs, the checks against the performance targets, and the Markdown table
// that docs/benchmarks.md copies.

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Medians over the rounds; CPU per request pooled over them (total CPU / total requests). */
export function summarise(results) {
  const s = {};
  for (const [name, r] of Object.entries(results)) {
    const t = (s[name] = { scenarios: {} });
    for (const [id, rounds] of Object.entries(r.scenarios)) {
      const reqs = rounds.reduce((n, x) => n + x.requests, 0);
      t.scenarios[id] = {
        rps: median(rounds.map((x) => x.rps)), p50Ms: median(rounds.map((x) => x.p50Ms)), p99Ms: median(rounds.map((x) => x.p99Ms)),
        cpuUsPerReq: rounds[0].cpuSeconds === null ? null : (rounds.reduce((n, x) => n + x.cpuSeconds, 0) / reqs) * 1e6,
        requests: reqs, errors: rounds.reduce((n, x) => n + x.errors + x.non2xx, 0), noisePct: Math.max(...rounds.map((x) => x.noisePct)), loadCoreBusyPct: median(rounds.map((x) => x.loadCoreBusyPct)), retried: rounds.filter((x) => x.attempts > 1).length,
      };
    }
    t.firstEvent = { p50Ms: pct(r.ttfb, 50), p99Ms: pct(r.ttfb, 99), n: r.ttfb.length, noisePct: r.ttfbNoisePct ?? null };
    t.memory = r.idle ? { idleRssMb: r.idle.rssMb, rssAfterLoadMb: r.after.rssMb, rssSettledMb: r.settled?.rssMb ?? null, settledAfterS: r.settled?.afterS ?? null, peakRssMb: r.after.peakRssMb, fdsAfterLoad: r.after.fds } : null;
  }
  const d = s.direct;
  for (const [name, t] of Object.entries(s)) {
    if (name === 'direct') continue;
    t.overDirect = {};
    for (const id of ['chat-c1', 'stream-c1', 'stream-sdk-c1']) if (t.scenarios[id] && d.scenarios[id]) t.overDirect[id] = { p50Ms: t.scenarios[id].p50Ms - d.scenarios[id].p50Ms, p99Ms: t.scenarios[id].p99Ms - d.scenarios[id].p99Ms };
    if (t.firstEvent.n > 0) t.overDirect.firstEvent = { p50Ms: t.firstEvent.p50Ms - d.firstEvent.p50Ms, p99Ms: t.firstEvent.p99Ms - d.firstEvent.p99Ms };
  }
  const ratios = {};
  for (const ref of ['bare', 'nginx']) {
    if (!s.soakp || !s[ref]) continue;
    const r = (ratios[`soakp/${ref}`] = {});
    for (const id of Object.keys(s.soakp.scenarios)) r[`cpu ${id}`] = s.soakp.scenarios[id].cpuUsPerReq / s[ref].scenarios[id].cpuUsPerReq;
    for (const id of Object.keys(s.soakp.scenarios)) r[`rps ${id}`] = s.soakp.scenarios[id].rps / s[ref].scenarios[id].rps;
    r['peak RSS'] = s.soakp.memory.peakRssMb / s[ref].memory.peakRssMb;
  }
  // soakp as most clients meet it (no policy, no stream_options) against the favourable stream.
  const sdk = {};
  const sc = s.soakp?.scenarios;
  if (sc) for (const c of ['c1', 'c32']) if (sc[`stream-sdk-${c}`] && sc[`stream-${c}`]) sdk[c] = sc[`stream-sdk-${c}`].cpuUsPerReq / sc[`stream-${c}`].cpuUsPerReq;
  return { targets: s, ratios, sdk, checks: checks(s, ratios, sdk) };
}

function checks(s, ratios, sdk) {
  const out = [];
  const add = (what, value, limit, unit) => out.push({ what, value, limit, unit, met: value <= limit });
  const rb = ratios['soakp/bare'];
  const rn = ratios['soakp/nginx'];
  if (!s.soakp) return out;
  const has = (id) => s.soakp.scenarios[id] !== undefined;
  for (const id of ['chat-c1', 'chat-c32'].filter(has)) if (rb) add(`CPU/request, non-streaming (${id}), soakp/bare`, rb[`cpu ${id}`], 1.3, '×');
  for (const id of ['chat-c1', 'chat-c32'].filter(has)) {
    if (rn) add(`CPU/request, non-streaming (${id}), soakp/nginx`, rn[`cpu ${id}`], 4, '×');
    else out.push({ what: `CPU/request, non-streaming (${id}), soakp/nginx`, value: null, limit: 4, unit: '×', met: null });
  }
  for (const id of ['stream-c1', 'stream-c32', 'stream-sdk-c1', 'stream-sdk-c32'].filter(has)) if (rb) add(`CPU/request, streaming (${id}), soakp/bare`, rb[`cpu ${id}`], 1.3, '×');
  for (const [c, v] of Object.entries(sdk)) add(`CPU/request, soakp's stream-sdk-${c} over its stream-${c}`, v, 1.2, '×');
  const over = s.soakp.overDirect;
  if (over['chat-c1']) add('added latency over direct, chat c=1, p50', over['chat-c1'].p50Ms, 0.2, 'ms');
  if (over['chat-c1']) add('added latency over direct, chat c=1, p99', over['chat-c1'].p99Ms, 1, 'ms');
  if (over.firstEvent) add('time to first SSE event over direct, p50', over.firstEvent.p50Ms, 0.5, 'ms');
  add('idle RSS (after start-up)', s.soakp.memory.idleRssMb, 80, 'MB');
  add('idle RSS (2 s after the load)', s.soakp.memory.rssAfterLoadMb, 80, 'MB');
  if (s.soakp.memory.rssSettledMb !== null) add(`idle RSS (${s.soakp.memory.settledAfterS} s after the load)`, s.soakp.memory.rssSettledMb, 80, 'MB');
  if (rb) add('peak RSS under load, soakp/bare', rb['peak RSS'], 1.2, '×');
  return out;
}

const f = (x, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));

export function toMarkdown({ date, machine: m, run, summary }) {
  const L = [];
  L.push(`Run ${date} on ${m.nproc} × ${m.cpuModel}, ${m.memoryGb} GB, Linux ${m.kernel}; Node ${m.node}; nginx ${m.nginx ?? 'not installed'}; ${m.wrk ?? 'wrk not installed'}; soakp ${m.commit}${m.dirty ? ' (src/ modified)' : ''}.`);
  L.push(`Load: ${run.loadTool}${run.pinned ? ', proxies pinned to core 0, upstream and load to core 1' : ', unpinned'}; ${run.rounds} rounds × ${run.seconds} s per cell, order alternating; load average at the end ${m.loadavgAtEnd.join(' ')}.`);
  L.push(`soakp: \`${run.soakpPolicy}\`, default SQLite store, log level info (to a file); build dist/ ${m.dist}.`);
  const retried = Object.values(summary.targets).reduce((n, t) => n + Object.values(t.scenarios).reduce((k, c) => k + c.retried, 0), 0);
  L.push(`Noise: the CPU the rest of the machine used during a measurement (plus stolen time), in % of one core; a cell over 10% is measured again, at most twice, and the quietest attempt kept (${retried} cell(s) were measured again in this run).`);
  for (const n of run.notes) L.push(`Note: ${n}`);
  L.push('', '| scenario | target | req/s | p50 ms | p99 ms | proxy CPU µs/req | errors | noise (max) | load core busy |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const names = Object.keys(summary.targets);
  for (const id of ['chat-c1', 'chat-c32', 'stream-c1', 'stream-c32', 'stream-sdk-c1', 'stream-sdk-c32']) {
    for (const n of names) {
      const c = summary.targets[n].scenarios[id];
      if (c) L.push(`| ${id} | ${n} | ${f(c.rps, 0)} | ${f(c.p50Ms, 3)} | ${f(c.p99Ms, 3)} | ${f(c.cpuUsPerReq, 1)} | ${c.errors} | ${f(c.noisePct, 1)}% | ${f(c.loadCoreBusyPct, 0)}% |`);
    }
  }
  L.push('', '| target | added p50 / p99 ms, chat c=1 | added p50 / p99 ms, stream c=1 | first SSE event p50 / p99 ms | first event over direct p50 / p99 ms | idle RSS MB | RSS after load MB (2 s / later) | peak RSS MB |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const n of names) {
    const t = summary.targets[n];
    const o = t.overDirect;
    const mem = t.memory;
    const pair = (x) => (x ? `${f(x.p50Ms, 3)} / ${f(x.p99Ms, 3)}` : '–');
    L.push(`| ${n} | ${pair(o?.['chat-c1'])} | ${pair(o?.['stream-c1'])} | ${f(t.firstEvent.p50Ms, 3)} / ${f(t.firstEvent.p99Ms, 3)} | ${pair(o?.firstEvent)} | ${mem ? f(mem.idleRssMb, 1) : '–'} | ${mem ? `${f(mem.rssAfterLoadMb, 1)}${mem.rssSettledMb !== null ? ` / ${f(mem.rssSettledMb, 1)}` : ''}` : '–'} | ${mem ? f(mem.peakRssMb, 1) : '–'} |`);
  }
  const refs = Object.keys(summary.ratios);
  if (refs.length > 0) {
    L.push('', `| ratio | ${refs.join(' | ')} |`, `| --- |${refs.map(() => ' ---: |').join('')}`);
    for (const k of Object.keys(summary.ratios[refs[0]])) L.push(`| ${k} | ${refs.map((r) => f(summary.ratios[r][k])).join(' | ')} |`);
  }
  L.push('', '| performance target | measured | limit | result |', '| --- | ---: | ---: | --- |');
  for (const c of summary.checks) {
    const miss = c.unit === '×' ? `missed: ${f(c.value / c.limit)} × the limit` : `missed by ${f(c.value - c.limit, c.unit === 'ms' ? 3 : 1)} ${c.unit}`;
    const result = c.met === null ? 'not measured (no nginx)' : c.met ? 'met' : miss;
    L.push(`| ${c.what} | ${f(c.value, c.unit === 'ms' ? 3 : 2)} ${c.unit} | ${c.limit} ${c.unit} | ${result} |`);
  }
  return `${L.join('\n')}\n`;
}
