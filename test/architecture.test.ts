import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, cruiseRules } from './helpers/depcruise.js';

// The import rules of docs/ARCHITECTURE.md live in .dependency-cruiser.cjs: the layer arrows, the
// two planes apart, folder entries, no cycles, no private package paths outside their adapter,
// every import resolved and declared. dependency-cruiser parses the code, so side-effect imports,
// double-quoted specifiers, re-exports, type-only imports and `load('…')` through createRequire
// count like any other import.
describe('module rules (dependency-cruiser)', () => {
  it('src/ keeps every rule', async () => {
    const { violations, modules } = await cruiseRules('src', true);
    expect(modules).toBeGreaterThan(100);
    expect(violations).toEqual([]);
  });

  it('reports each rule broken on purpose in test/fixtures/architecture', async () => {
    const root = 'test/fixtures/architecture/src';
    const { violations } = await cruiseRules(root);
    expect(violations.map((line) => line.replaceAll(`${root}/`, ''))).toEqual([
      "folder-entry: http/app.ts → vault/seal.ts ('../vault/seal.js')",
      "layer-arrows: domain/types.ts → crypto/aead.ts ('../crypto/aead.js')", // a double-quoted specifier
      "layer-arrows: proxy/relay.ts → admin/tokens.ts ('../admin/tokens.js')",
      "layer-arrows: shared/log.ts → store/open.ts ('../store/open.js')", // a side-effect import
      'no-circular: admin/accounts.ts → admin/tokens.ts → admin/accounts.ts',
      // The adapter of one package reaching into another; a non-adapter through `load('…')`.
      "no-private-package-paths: policy/rate-limiter-flexible-core.ts → node_modules/undici/lib/dispatcher/pool.js ('undici/lib/dispatcher/pool.js')",
      "no-private-package-paths: proxy/forward.ts → node_modules/undici/lib/dispatcher/pool.js ('undici/lib/dispatcher/pool.js')",
      "not-to-undeclared: config/load.ts → node_modules/sonic-boom/index.js ('sonic-boom')",
      "not-to-unresolvable: store/sqlite.ts → kysely/dist/esm/index.js ('kysely/dist/esm/index.js')",
      "planes-apart: proxy/relay.ts → admin/tokens.ts ('../admin/tokens.js')",
    ]);
  });
});

describe('private state read through a public entry', () => {
  // dependency-cruiser sees imports, not property reads: pino's logger state is reached through
  // `pino.symbols`, a public export, so its one adapter is checked here.
  it("only src/shared/pino-destination.ts reads pino's symbols", () => {
    const src = join(ROOT, 'src');
    const readers = readdirSync(src, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
      .filter((file) => /\bsymbols\b/.test(readFileSync(join(src, file), 'utf8')));
    expect(readers).toEqual(['shared/pino-destination.ts']);
  });
});
