// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by function and by package,
// and inclusive (total) time by function, as Markdown tables.
// Run: node bench/profile-summary.mjs <file.cpuprofile> [--top N] [--root DIR]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Where a script belongs: an npm package, a part of soakp's dist/, Node core, or V8's own entries. */
export function packageOf(url, name, root) {
  if (!url) return name.startsWith('(') ? name : '(native code: bindings, syscalls)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 14).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (url.startsWith('node:')) return 'node core';
  if (url.startsWith('wasm:')) return 'wasm (llhttp, undici\'s HTTP parser)';
  const file = url.startsWith('file://') ? fileURLToPath(url) : url;
  const rel = relative(root, file);
  if (rel.startsWith('dist/')) return `soakp ${rel.split('/').slice(0, -1).join('/') || 'dist'}`;
  return rel.startsWith('..') ? file : rel;
}

function where(url, root) {
  if (!url) return '';
  const file = url.startsWith('file://') ? fileURLToPath(url) : url;
  const nm = file.lastIndexOf('/node_modules/');
  if (nm >= 0) return file.slice(nm + 14);
  return file.startsWith('node:') ? file : relative(root, file);
}

/** Node core's scripts grouped by area: node:internal/streams/readable -> node:streams, node:_http_server -> node:http. */
function nodeArea(url) {
  const first = url.slice(5).replace(/^internal\//, '').split('/')[0];
  return `node:${first.replace(/^_/, '').replace(/^(http|stream|tls)_.*$/, '$1').replace(/^stream$/, 'streams')}`;
}

/** Self and inclusive time; with `window` ({ fromUs, toUs } on V8's clock) only samples inside it count. */
export function summarise(profile, root, window = null) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n) => {
    const cf = n.callFrame;
    return cf.url ? `${cf.functionName || '(anonymous)'} ${where(cf.url, root)}:${cf.lineNumber + 1}` : cf.functionName;
  };
  const self = new Map();
  const total = new Map();
  const pkg = new Map();
  const core = new Map();
  const { samples, timeDeltas } = profile;
  let all = 0;
  let idle = 0;
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    at += timeDeltas[i];
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    // A sample lasts until the next one; the last gets the mean interval.
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : (profile.endTime - profile.startTime) / samples.length;
    const node = byId.get(samples[i]);
    all += dt;
    if (node.callFrame.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    const k = key(node);
    self.set(k, (self.get(k) ?? 0) + dt);
    const p = packageOf(node.callFrame.url, node.callFrame.functionName, root);
    pkg.set(p, (pkg.get(p) ?? 0) + dt);
    if (p === 'node core') core.set(nodeArea(node.callFrame.url), (core.get(nodeArea(node.callFrame.url)) ?? 0) + dt);
    const seen = new Set();
    for (let id = samples[i], hops = 0; id !== undefined && hops < 10_000; id = parent.get(id), hops++) {
      const a = byId.get(id);
      if (a.callFrame.functionName === '(root)') break;
      const ak = key(a);
      if (seen.has(ak)) continue; // recursion counts once
      seen.add(ak);
      total.set(ak, (total.get(ak) ?? 0) + dt);
    }
  }
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]);
  return { allMs: all / 1000, busyMs: (all - idle) / 1000, idleMs: idle / 1000, self: sorted(self), packages: sorted(pkg), core: sorted(core), total: sorted(total) };
}

export function toMarkdown(s, top = 15, requests = 0) {
  const pct = (us) => `${((100 * us) / (s.busyMs * 1000)).toFixed(1)}%`;
  const ms = (us) => (us / 1000).toFixed(0);
  const per = requests ? ` (${((s.busyMs * 1000) / requests).toFixed(0)} µs of JS-thread time per request)` : '';
  const L = [`Profiled ${s.allMs.toFixed(0)} ms: busy ${s.busyMs.toFixed(0)} ms${per}, idle ${s.idleMs.toFixed(0)} ms. Shares are of busy time.`, ''];
  L.push('| self time by package | ms | share |', '| --- | ---: | ---: |');
  for (const [k, v] of s.packages.slice(0, top)) L.push(`| ${k} | ${ms(v)} | ${pct(v)} |`);
  L.push('', '| node core by area (self time) | ms | share |', '| --- | ---: | ---: |');
  for (const [k, v] of s.core.slice(0, 8)) L.push(`| ${k} | ${ms(v)} | ${pct(v)} |`);
  L.push('', `| top ${top} functions by self time | ms | share |`, '| --- | ---: | ---: |');
  for (const [k, v] of s.self.slice(0, top)) L.push(`| \`${k}\` | ${ms(v)} | ${pct(v)} |`);
  const mine = s.total.filter(([k]) => / dist\//.test(` ${k}`) || k.includes(' dist/'));
  L.push('', `| top ${top} soakp functions by total time (synchronous stacks: work resumed after an await is not included) | ms | share |`, '| --- | ---: | ---: |');
  for (const [k, v] of mine.slice(0, top)) L.push(`| \`${k}\` | ${ms(v)} | ${pct(v)} |`);
  return `${L.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '15' }, root: { type: 'string', default: process.cwd() } } });
  if (positionals.length !== 1) {
    console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [--top N] [--root DIR]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));
  process.stdout.write(toMarkdown(summarise(profile, values.root), Number(values.top)));
}
