import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const ROOT = new URL('../../', import.meta.url);
const require = createRequire(ROOT);

const json = (path: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(path, ROOT), 'utf8')) as Record<string, unknown>;

/** A package whose internals an adapter of src/ uses, for that adapter's test. */
export interface PackageInternals {
  /** The version installed in node_modules. */
  readonly version: string;
  /** The version range package.json asks for. */
  readonly wanted: string | undefined;
  /** A failed check's message: which package and version changed, and what to do about it. */
  says(what: string): string;
  /** Whether a private file of the package still exists. */
  resolves(specifier: string): boolean;
}

export function packageInternals(name: string, adapter: string): PackageInternals {
  const version = json(`node_modules/${name}/package.json`).version as string;
  const manifest = json('package.json') as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
  return {
    version,
    wanted: manifest.dependencies?.[name] ?? manifest.devDependencies?.[name],
    says: (what) => `${name} ${version}: ${what}. ${adapter} relies on this package's internals (see its comment): port it to this version, or install the version it was written for.`,
    resolves(specifier) {
      try {
        require.resolve(specifier);
        return true;
      } catch {
        return false;
      }
    },
  };
}
