import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The module arrows of docs/ARCHITECTURE.md, checked by machine: a layer may import only
// the layers listed. The data plane (proxy) and the control plane (admin) never import
// each other. main.ts, library.ts and index.ts compose everything and are not listed.
const ALLOWED: Record<string, string[]> = {
  shared: [],
  domain: ['shared'],
  config: ['shared'],
  crypto: ['shared', 'domain'],
  store: ['shared', 'domain'],
  vault: ['shared', 'domain', 'crypto', 'store'],
  policy: ['shared', 'domain', 'store', 'config'],
  proxy: ['shared', 'domain', 'crypto', 'store', 'vault', 'config', 'policy'],
  admin: ['shared', 'domain', 'crypto', 'store', 'vault', 'config', 'policy'],
  http: ['shared', 'domain', 'config', 'store', 'vault', 'proxy', 'admin', 'policy'],
  cli: ['shared', 'domain', 'config', 'store', 'vault', 'admin', 'http', 'policy', 'main.js'],
};

const SRC = fileURLToPath(new URL('../src', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : [];
  });
}

describe('module layering', () => {
  it('every import follows the arrows', () => {
    const violations: string[] = [];
    for (const file of files(SRC)) {
      const layer = relative(SRC, file).split('/')[0] as string;
      const allowed = ALLOWED[layer];
      if (!allowed) continue; // composition roots
      for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'|import\('(\.{1,2}\/[^']+)'\)/g)) {
        const target = relative(SRC, join(file, '..', (m[1] ?? m[2]) as string)).split('/')[0] as string;
        if (target !== layer && !allowed.includes(target)) violations.push(`${relative(SRC, file)} → ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });
});
