// The CPU profile's summary (bench:profile): self and inclusive time per function and package,
// only inside the measured window, with recursion counted once.
import { describe, expect, it } from 'vitest';
import { packageOf, summarise } from './profile-summary.mjs';

const ROOT = '/work/soakp';
const frame = (functionName, url = '', lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0, scriptId: '0' });

// (root) → admit (dist/policy) → admit again (recursion) → _resume (undici); (idle) beside.
const PROFILE = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5] },
    { id: 2, callFrame: frame('admit', `file://${ROOT}/dist/policy/engine.js`, 56), children: [3] },
    { id: 3, callFrame: frame('admit', `file://${ROOT}/dist/policy/engine.js`, 56), children: [4] },
    { id: 4, callFrame: frame('_resume', `${ROOT}/node_modules/undici/lib/dispatcher/client.js`, 588), children: [] },
    { id: 5, callFrame: frame('(idle)'), children: [] },
  ],
  startTime: 0,
  endTime: 400,
  // At 100 µs (outside the window below), then 200, 300, 400; each sample lasts until the next.
  samples: [4, 4, 3, 5],
  timeDeltas: [100, 100, 100, 100],
};

describe('profile summary', () => {
  it('names where a script belongs', () => {
    expect(packageOf(`file://${ROOT}/dist/proxy/relay.js`, 'x', ROOT)).toBe('soakp dist/proxy');
    expect(packageOf(`${ROOT}/node_modules/@fastify/ajv-compiler/index.js`, 'x', ROOT)).toBe('@fastify/ajv-compiler');
    expect(packageOf('node:internal/streams/writable', 'x', ROOT)).toBe('node core');
    expect(packageOf('', '(garbage collector)', ROOT)).toBe('(garbage collector)');
  });

  it('counts only the window, self and inclusive time, recursion once', () => {
    const s = summarise(PROFILE, ROOT, { fromUs: 150, toUs: 450 });
    expect(s.allMs).toBeCloseTo(0.3, 9); // three samples of 100 µs
    expect(s.idleMs).toBeCloseTo(0.1, 9);
    expect(new Map(s.self).get('_resume undici/lib/dispatcher/client.js:589')).toBe(100);
    expect(new Map(s.self).get('admit dist/policy/engine.js:57')).toBe(100);
    // admit is on the stack of both busy samples, twice in one of them: 200 µs, not 300.
    expect(new Map(s.total).get('admit dist/policy/engine.js:57')).toBe(200);
    expect(new Map(s.packages).get('soakp dist/policy')).toBe(100);
  });
});
