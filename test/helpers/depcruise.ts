import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type ICruiseOptions, type ICruiseResult, type IForbiddenRuleType, type IViolation, cruise } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

/** The repository's root: dependency-cruiser names every module relative to it. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Config {
  options: ICruiseOptions & { tsConfig: { fileName: string } };
  rulesFor(root: string): IForbiddenRuleType[];
  REQUIRE_NAMES: string[];
}
const config = createRequire(import.meta.url)('../../.dependency-cruiser.cjs') as Config;

/** The local names `createRequire(…)` may be bound to: the rules see calls to these as imports. */
export const REQUIRE_NAMES = config.REQUIRE_NAMES;

/** One reported violation as a line a person reads: the rule, then the import (or the cycle). */
export function describeViolation(v: IViolation): string {
  const path = v.cycle ? [v.from, ...v.cycle.map((step) => step.name)].join(' → ') : `${v.from} → ${v.to} ('${v.unresolvedTo ?? v.to}')`;
  return `${v.rule.name}: ${path}`;
}

/**
 * Runs the rules of .dependency-cruiser.cjs, written for the tree at `root`, over it. The known
 * violations (.dependency-cruiser-known-violations.json) are left out only when asked for.
 */
export async function cruiseRules(root: string, known = false): Promise<{ violations: string[]; modules: number }> {
  const options: ICruiseOptions = {
    ...config.options,
    baseDir: ROOT,
    validate: true,
    ruleSet: { forbidden: config.rulesFor(root) },
  };
  if (known) options.knownViolations = JSON.parse(readFileSync(new URL('../../.dependency-cruiser-known-violations.json', import.meta.url), 'utf8'));
  const tsConfig = extractTSConfig(new URL(`../../${config.options.tsConfig.fileName}`, import.meta.url).pathname);
  const { output } = await cruise([root], options, {}, { tsConfig });
  const result = (typeof output === 'string' ? JSON.parse(output) : output) as ICruiseResult;
  const violations = result.summary.violations.filter((v) => v.rule.severity !== 'ignore').map(describeViolation);
  return { violations: violations.sort(), modules: result.summary.totalCruised };
}
