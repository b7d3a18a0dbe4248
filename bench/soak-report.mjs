// Growth per minute from the soak's samples: a least-squares line per figure, fitted after a
// warm-up (the first minute when the soak lasts 3 minutes or more, else the first sample; or
// --settle minutes).
const METRICS = [
  { key: 'rssMb', label: 'RSS', unit: 'MB', floor: 2 },
  { key: 'heapUsedMb', label: 'live JS heap (after full GC)', unit: 'MB', floor: 1 },
  { key: 'heapPhysicalMb', label: 'V8 heap committed (after full GC)', unit: 'MB', floor: 2 },
  { key: 'mallocMainMb', label: "malloc's main arena (`[heap]`: SQLite, Node's C++)", unit: 'MB', floor: 2 },
  { key: 'otherAnonMb', label: 'other anonymous memory (threads’ arenas, large allocations)', unit: 'MB', floor: 2 },
  { key: 'fileMb', label: 'file-backed (code of node and its libraries)', unit: 'MB', floor: 2 },
  { key: 'externalMb', label: 'external (buffers)', unit: 'MB', floor: 1 },
  { key: 'fds', label: 'open file descriptors', unit: '', floor: 2 },
  { key: 'sockets', label: 'sockets', unit: '', floor: 2 },
];

function line(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - mx) ** 2;
    sxy += (xs[i] - mx) * (ys[i] - my);
  }
  const slope = sxx ? sxy / sxx : 0;
  const res = ys.map((y, i) => y - (my + slope * (xs[i] - mx)));
  const sigma = n > 2 ? Math.sqrt(res.reduce((a, r) => a + r * r, 0) / (n - 2)) : 0;
  const slopeErr = sxx && n > 2 ? sigma / Math.sqrt(sxx) : Infinity;
  return { slope, sigma, slopeErr };
}

/**
 * Per figure: slope per minute (± standard error), the growth the line implies over the
 * window, the residual noise, and whether the growth stands out: larger than twice the noise,
 * than a small floor, and than three standard errors of the slope. With 4 or more whole minutes
 * the line is fitted to each minute's lowest value (its floor): a leak raises the floor, while a
 * burst of connections or a GC cycle only lifts single samples.
 */
export function fit(samples, minutes, settleMinutes) {
  const from = settleMinutes !== undefined ? Math.max(1e-9, settleMinutes * 60) : minutes >= 3 ? 60 : 1e-9;
  const used = samples.filter((s) => s.t >= from);
  const byMinute = new Map();
  for (const s of used) (byMinute.get(Math.floor(s.t / 60)) ?? byMinute.set(Math.floor(s.t / 60), []).get(Math.floor(s.t / 60))).push(s);
  const floors = byMinute.size >= 4;
  const out = { fromS: from >= 1 ? from : used[0]?.t ?? 0, samples: used.length, fittedTo: floors ? 'per-minute floors' : 'samples' };
  for (const m of METRICS) {
    const pts = floors
      ? [...byMinute].map(([min, ss]) => ({ x: min + 0.5, ys: ss.map((s) => s[m.key]).filter((v) => typeof v === 'number') })).filter((p) => p.ys.length > 0).map((p) => ({ x: p.x, y: Math.min(...p.ys) }))
      : used.filter((s) => typeof s[m.key] === 'number').map((s) => ({ x: s.t / 60, y: s[m.key] }));
    if (pts.length < 3) {
      out[m.key] = null;
      continue;
    }
    const xs = pts.map((p) => p.x);
    const { slope, sigma, slopeErr } = line(xs, pts.map((p) => p.y));
    const window = xs.at(-1) - xs[0];
    const growth = slope * window;
    const grows = growth > Math.max(2 * sigma, m.floor) && slope > 3 * slopeErr;
    out[m.key] = { perMinute: slope, perMinuteErr: slopeErr, window, growth, noise: sigma, first: pts[0].y, last: pts.at(-1).y, grows };
  }
  return out;
}

const f = (x, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

export function soakMarkdown(r) {
  const L = [
    `Soak ${r.date}: ${r.minutes} min at ${r.rate} req/s (7/10 streaming chat, 2/10 chat, 1/10 embeddings) through soakp${r.dist ? ` (build dist/ ${r.dist})` : ''}; samples every ${r.intervalS} s; lines fitted from ${f(r.fits.fromS, 0)} s on (${r.fits.samples} samples), to ${r.fits.fittedTo}.`,
    `Requests: ${r.counts.ok} ok, ${r.counts.failed} failed, ${r.counts.skipped} not sent (over 256 in flight).`,
    '',
    '| figure | first | last | growth per minute (± s.e.) | over the window | noise (σ) | verdict |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const m of METRICS) {
    const x = r.fits[m.key];
    if (!x) {
      L.push(`| ${m.label} | – | – | – | – | – | not sampled |`);
      continue;
    }
    const d = m.unit ? 2 : 1;
    const steady = !x.grows && x.perMinute > 3 * x.perMinuteErr && x.growth > 0;
    const verdict = x.grows ? '**grows**' : steady ? `steady rise below the ${m.floor} ${m.unit || ''} floor (${f(x.perMinute * 60, 1)} ${m.unit || ''}/h): check with a longer soak` : 'no growth beyond noise';
    L.push(`| ${m.label}${m.unit ? ` (${m.unit})` : ''} | ${f(x.first, d)} | ${f(x.last, d)} | ${f(x.perMinute, 3)} (± ${f(x.perMinuteErr, 3)}) | ${f(x.growth, d)} | ${f(x.noise, d)} | ${verdict} |`);
  }
  const stalls = r.samples.filter((x) => x.t > 0 && (x.maxMs > 1000 || x.skipped > 0 || x.loopDelayMaxMs > 200 || x.failed > 0));
  L.push('', `Intervals with an answer over 1 s, requests not sent, or soakp's event loop blocked over 200 ms: ${stalls.length} of ${r.samples.length - 1}.`);
  if (stalls.length > 0) {
    L.push('', '| at min | answered | p99 ms | max ms | most in flight | not sent | event-loop delay max ms | noise (other processes) |', '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const x of stalls.slice(0, 20)) L.push(`| ${f(x.t / 60, 1)} | ${x.answered} | ${f(x.p99Ms, 1)} | ${f(x.maxMs, 0)} | ${x.maxInFlight} | ${x.skipped} | ${f(x.loopDelayMaxMs, 0)} | ${f(x.noisePct, 0)}% |`);
  }
  return `${L.join('\n')}\n`;
}
