import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.mjs'],
    // Trees that break rules on purpose, read by the tests, not run.
    exclude: [...configDefaults.exclude, 'test/fixtures/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: files in parallel threads are plenty; each test makes its own temp data dir.
    pool: 'forks',
    reporters: ['default'],
  },
});
