// Reading `perf report --stdio -n` output (bench/perf-split.mjs): rows of samples by key, with
// the names of compiled JavaScript made comparable between two processes.

/**
 * A row's key as compared across processes: V8's tier mark (`*` optimised, `^` Sparkplug, `~`
 * interpreted, `+`) dropped, as it may differ between the two; soakp's and the bench's files
 * and packages named from their own folder; the `[JIT] tid N` object named `[JIT]`.
 */
export function symbolKey(raw) {
  return raw
    .replace(/^\[\.\]\s+/, '')
    .replace(/^(JS:)[*^~+]?/, '$1')
    .replace(/file:\/\/\S*?\/(dist|bench)\//, '$1/')
    .replace(/\S*node_modules\//, '')
    .replace(/\[JIT\] tid \d+/, '[JIT]');
}

/** `perf report --stdio -n` text → samples by key (rows with the same key, once normalised, are added). */
export function parseReport(text) {
  const rows = new Map();
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+%\s+(\d+)\s+(.*?)\s*$/.exec(line);
    if (!m) continue;
    const key = symbolKey(m[2]);
    rows.set(key, (rows.get(key) ?? 0) + Number(m[1]));
  }
  return rows;
}
