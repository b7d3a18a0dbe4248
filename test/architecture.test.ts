import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REQUIRE_NAMES, ROOT, cruiseRules } from './helpers/depcruise.js';

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

// What dependency-cruiser cannot see, checked over the source text instead.
describe('what the import rules cannot see', () => {
  const src = join(ROOT, 'src');
  const sources = readdirSync(src, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
    .map((file) => ({ file, text: readFileSync(join(src, file), 'utf8') }));

  // pino's logger state is reached through `pino.symbols`, a property of its public export.
  it("only src/shared/pino-destination.ts reads pino's symbols", () => {
    expect(sources.filter(({ text }) => /\bsymbols\b/.test(text)).map(({ file }) => file)).toEqual(['shared/pino-destination.ts']);
  });

  // `createRequire(…)('x')` called at once is invisible to the rules; `load('x')` is seen.
  it(`binds createRequire to a name the rules know (${REQUIRE_NAMES.join(', ')})`, () => {
    const bound = new RegExp(`const (?:${REQUIRE_NAMES.join('|')}) = createRequire\\(import\\.meta\\.url\\);`, 'g');
    const unbound = sources.filter(({ text }) => (text.match(/createRequire\(/g) ?? []).length !== (text.match(bound) ?? []).length);
    expect(unbound.map(({ file }) => file)).toEqual([]);
  });
});
