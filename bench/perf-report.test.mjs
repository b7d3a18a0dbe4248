// perf's report text as bench:perf reads it: rows by key, compiled functions comparable across
// two processes (their tier marks and absolute paths differ).
import { describe, expect, it } from 'vitest';
import { parseReport, symbolKey } from './perf-report.mjs';

// Lines as `perf report --no-children -n --stdio` prints them (header and blank lines included).
const REPORT = `# Samples: 27K of event 'cpu-clock'
# Overhead       Samples  Symbol
# ........  ............  ......
#
    11.94%          3256  [k] pvm_irq_enable
     2.01%           548  [.] Builtins_LoadIC
     1.05%           286  [.] JS:*answerHead file:///work/main/dist/proxy/headers.js:68:27
     0.02%             5  [.] JS:^answerHead file:///work/main/dist/proxy/headers.js:68:27
     1.00%           272  [.] JS:*_resume /work/main/node_modules/undici/lib/dispatcher/client.js:589:18
     0.21%            56  [.] RegExp:^[\\^_\`a-zA-Z\\-0-9!#$%&'*+.|~]+$

`;

describe('parseReport', () => {
  it('reads samples by symbol, adding up the tiers of one function', () => {
    const rows = parseReport(REPORT);
    expect(rows.get('[k] pvm_irq_enable')).toBe(3256);
    expect(rows.get('Builtins_LoadIC')).toBe(548);
    expect(rows.get('JS:answerHead dist/proxy/headers.js:68:27')).toBe(291);
    expect(rows.get('JS:_resume undici/lib/dispatcher/client.js:589:18')).toBe(272);
    expect(rows.get("RegExp:^[\\^_`a-zA-Z\\-0-9!#$%&'*+.|~]+$")).toBe(56);
    expect(rows.size).toBe(5); // header lines are not rows
  });

  it('names the same function alike wherever the checkout is', () => {
    expect(symbolKey('JS:*write file:///home/x/soakp/dist/shared/access-log.js:54:14')).toBe('JS:write dist/shared/access-log.js:54:14');
    expect(symbolKey('JS:~ /srv/app/node_modules/undici/lib/core/tree.js:145:10')).toBe('JS: undici/lib/core/tree.js:145:10');
    expect(symbolKey('[JIT] tid 6649')).toBe('[JIT]');
  });
});
