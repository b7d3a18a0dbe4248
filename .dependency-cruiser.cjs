// The import rules of docs/ARCHITECTURE.md, checked by dependency-cruiser: `npm test` runs them
// (test/architecture.test.ts), `npm run lint:deps` prints them for a person. The rules are built
// by `rulesFor(root)` so that the same rules also run over test/fixtures/architecture, a small
// tree that breaks each one on purpose: that test proves every rule can fail.
'use strict';
const { existsSync, readFileSync, readdirSync } = require('node:fs');
const { join } = require('node:path');

/** Which folders each folder of src/ may import. main.ts, library.ts and index.ts compose everything. */
const LAYERS = {
  shared: [],
  domain: ['shared'],
  config: ['shared'],
  crypto: ['shared', 'domain'],
  store: ['shared', 'domain'],
  vault: ['shared', 'domain', 'crypto', 'store'],
  audit: ['shared', 'domain', 'store'],
  metering: ['shared', 'domain', 'store'],
  policy: ['shared', 'domain', 'store', 'config', 'audit', 'metering'],
  proxy: ['shared', 'domain', 'crypto', 'store', 'vault', 'config', 'policy', 'metering'],
  admin: ['shared', 'domain', 'crypto', 'store', 'vault', 'config', 'policy', 'audit'],
  tls: ['shared', 'domain', 'config', 'store', 'vault'],
  http: ['shared', 'domain', 'config', 'store', 'vault', 'proxy', 'admin', 'policy', 'tls'],
  cli: ['shared', 'domain', 'config', 'store', 'vault', 'admin', 'http', 'policy', 'audit', 'tls', 'main.ts'],
};

/** The data plane and the control plane: neither imports the other. */
const PLANES = ['proxy', 'admin'];

/**
 * The only files that may load a package's private files, and the package each one wraps.
 * Each says why the public entry is not used, and has a test beside it that fails, naming the
 * package and its version, when those internals change.
 */
const ADAPTERS = {
  'proxy/undici-core.ts': 'undici',
  'policy/rate-limiter-flexible-core.ts': 'rate-limiter-flexible',
};

/** The local names `createRequire(import.meta.url)` is bound to in src/: calls to them are imports too. */
const REQUIRE_NAMES = ['require', 'load'];

const esc = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Packages package.json declares (an undeclared one is its own rule, not-to-undeclared). */
const NPM = ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-bundled'];

/** Every file path a package documents as an entry: its `exports` targets, or `main` and `types`. */
function publicEntries(name) {
  const manifest = JSON.parse(readFileSync(join(__dirname, 'node_modules', name, 'package.json'), 'utf8'));
  const targets = [];
  const walk = (value) => {
    if (typeof value === 'string') targets.push(value);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  if (manifest.exports !== undefined) walk(manifest.exports);
  else targets.push(manifest.main ?? 'index.js', manifest.types ?? manifest.typings ?? 'index.d.ts');
  const files = targets.flatMap((target) => {
    // `./*` maps a subpath to a file pattern; a main without an extension may name a file or a folder.
    const path = esc(target.replace(/^\.\//, '')).replace(/\\\*/g, '.+');
    const js = /\.[cm]?js$/.test(target) ? [path.replace(/\\\.(c|m)?js$/, '\\.d\\.$1ts')] : [];
    const bare = /\.[a-z]+$/.test(target) || target.includes('*') ? [] : [`${path}\\.js`, `${path}/index\\.js`];
    return [path, ...js, ...bare];
  });
  return `^node_modules/${esc(name)}/(?:${files.join('|')})$`;
}

function declaredPackages() {
  const manifest = JSON.parse(readFileSync(join(__dirname, 'package.json'), 'utf8'));
  return Object.keys({ ...manifest.dependencies, ...manifest.devDependencies });
}

/** The folders of `root` that have an entry file, index.ts: others reach them only through it. */
function entryFolders(root) {
  const dir = join(__dirname, root);
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(dir, entry.name, 'index.ts')))
    .map((entry) => entry.name);
}

/** The rules, for the tree under `root` (a path relative to the repository, like 'src'). */
function rulesFor(root) {
  const at = `^${esc(root)}/`;
  const tests = '\\.test\\.ts$';
  const layers = Object.entries(LAYERS).map(([layer, allowed]) => ({
    name: 'layer-arrows',
    comment: `${layer}/ may import only: ${allowed.join(', ') || 'nothing of src/'}`,
    severity: 'error',
    from: { path: `${at}${layer}/`, pathNot: tests },
    to: { path: at, pathNot: [layer, ...allowed].map((name) => `${at}${esc(name)}${name.endsWith('.ts') ? '$' : '/'}`) },
  }));
  const [data, control] = PLANES;
  const planes = [
    [data, control],
    [control, data],
  ].map(([from, to]) => ({
    name: 'planes-apart',
    comment: 'The data plane (proxy/) and the control plane (admin/) never import each other.',
    severity: 'error',
    from: { path: `${at}${from}/` },
    to: { path: `${at}${to}/` },
  }));
  const publicPaths = declaredPackages().filter((name) => existsSync(join(__dirname, 'node_modules', name))).map(publicEntries);
  const adapters = Object.keys(ADAPTERS).map((file) => `${at}${esc(file)}$`);
  const privatePaths = [
    {
      name: 'no-private-package-paths',
      comment: 'Import a package through its documented entries; a private file only from its adapter (ADAPTERS).',
      severity: 'error',
      from: { path: at, pathNot: adapters },
      to: { dependencyTypes: NPM, pathNot: publicPaths },
    },
    ...Object.entries(ADAPTERS).map(([file, name]) => ({
      name: 'no-private-package-paths',
      comment: `${file} is the adapter of ${name} only.`,
      severity: 'error',
      from: { path: `${at}${esc(file)}$` },
      to: { dependencyTypes: NPM, pathNot: [...publicPaths, `^node_modules/${esc(name)}/`] },
    })),
  ];
  const entries = entryFolders(root).map((folder) => ({
    name: 'folder-entry',
    comment: `${folder}/ has an index.ts: other folders import it through that file only.`,
    severity: 'error',
    from: { path: at, pathNot: [`${at}${esc(folder)}/`, tests] },
    to: { path: `${at}${esc(folder)}/`, pathNot: `${at}${esc(folder)}/index\\.ts$` },
  }));
  return [
    ...layers,
    ...planes,
    ...privatePaths,
    ...entries,
    {
      name: 'acme-on-demand',
      comment: 'tls/ loads acme/ (acme-client, axios, node-forge: ~15 MB) only when ACME is asked for: a dynamic import.',
      severity: 'error',
      from: { path: `${at}tls/[^/]+\\.ts$`, pathNot: tests },
      to: { path: `${at}tls/acme/`, dependencyTypesNot: ['dynamic-import', 'type-only'] },
    },
    {
      name: 'no-circular',
      comment: 'A module never reaches itself through its imports (type-only imports included).',
      severity: 'error',
      from: { path: at },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves; a path a package does not export does not.',
      severity: 'error',
      from: { path: at },
      to: { couldNotResolve: true },
    },
    {
      name: 'not-to-undeclared',
      comment: 'Every package imported is in package.json.',
      severity: 'error',
      from: { path: at },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
  ];
}

const options = {
  doNotFollow: { path: 'node_modules' },
  // Type-only imports count: they tie modules together as much as the others.
  tsPreCompilationDeps: true,
  tsConfig: { fileName: 'tsconfig.json' },
  exoticRequireStrings: REQUIRE_NAMES,
  enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
};

module.exports = { forbidden: rulesFor('src'), options };
// For the tests, not enumerable: dependency-cruiser clones its configuration, and a function cannot be.
Object.defineProperties(module.exports, { rulesFor: { value: rulesFor }, REQUIRE_NAMES: { value: REQUIRE_NAMES } });
