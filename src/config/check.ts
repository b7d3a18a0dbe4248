/**
 * A small validator for the configuration: checks plain data (YAML, JSON, environment, flags),
 * fills defaults and converts values, and reports every problem with its path. It replaces
 * zod here because zod (its ~280 ES modules, 60 locales among them) cost an idle server about
 * 6 MB of memory for the one object it checked at start-up.
 */
export interface Issue {
  readonly path: readonly (string | number)[];
  readonly message: string;
  /** For an unknown key: its name (the issue's path is that of the object holding it). */
  readonly key?: string;
}

/** Checks `value` at `path`: its result, or undefined after adding to `issues`. */
export type Check<T> = (value: unknown, path: readonly (string | number)[], issues: Issue[]) => T;

/** A test a value must pass, and the problem to report when it does not. */
export type Rule<T> = readonly [ok: (value: T) => boolean, message: string];

export function fail<T>(issues: Issue[], path: readonly (string | number)[], message: string): T {
  issues.push({ path, message });
  return undefined as T;
}

function ruled<T>(value: T, rules: readonly Rule<T>[], path: readonly (string | number)[], issues: Issue[]): T {
  for (const [ok, message] of rules) if (!ok(value)) return fail(issues, path, message);
  return value;
}

export const string =
  (...rules: Rule<string>[]): Check<string> =>
  (v, path, issues) =>
    typeof v === 'string' ? ruled(v, rules, path, issues) : fail(issues, path, 'must be a string');

export const nonEmpty: Rule<string> = [(s) => s.length > 0, 'must not be empty'];
export const matches = (re: RegExp, message = `must match ${re}`): Rule<string> => [(s) => re.test(s), message];

export const number =
  (...rules: Rule<number>[]): Check<number> =>
  (v, path, issues) =>
    typeof v === 'number' && Number.isFinite(v) ? ruled(v, rules, path, issues) : fail(issues, path, 'must be a number');

export const int: Rule<number> = [Number.isSafeInteger, 'must be a whole number'];
export const min = (n: number): Rule<number> => [(x) => x >= n, `must be at least ${n}`];
export const max = (n: number): Rule<number> => [(x) => x <= n, `must be at most ${n}`];

export const boolean: Check<boolean> = (v, path, issues) => (typeof v === 'boolean' ? v : fail(issues, path, 'must be true or false'));

export const oneOf =
  <T extends string>(values: readonly T[]): Check<T> =>
  (v, path, issues) =>
    values.includes(v as T) ? (v as T) : fail(issues, path, `must be one of: ${values.join(', ')}`);

/** Absent (undefined) gives `value`, which is taken as it is (it is already a checked result). */
export const withDefault =
  <T>(check: Check<T>, value: T | (() => T)): Check<T> =>
  (v, path, issues) =>
    v === undefined ? (typeof value === 'function' ? (value as () => T)() : value) : check(v, path, issues);

export const optional =
  <T>(check: Check<T>): Check<T | undefined> =>
  (v, path, issues) =>
    v === undefined ? undefined : check(v, path, issues);

/** A test of the whole value, made only once the value itself passed. */
export const refine =
  <T>(check: Check<T>, ...rules: Rule<T>[]): Check<T> =>
  (v, path, issues) => {
    const before = issues.length;
    const out = check(v, path, issues);
    return issues.length > before ? out : ruled(out, rules, path, issues);
  };

type Shape = Record<string, Check<unknown>>;
type Out<S extends Shape> = { [K in keyof S]: ReturnType<S[K]> };

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A mapping with exactly these keys (an unknown key is a problem, not silently dropped). */
export function object<S extends Shape>(shape: S): Check<Out<S>> {
  return (v, path, issues) => {
    if (!isMapping(v)) return fail(issues, path, 'must be a mapping of settings');
    const entries = Object.entries(shape).map(([k, check]) => [k, check(Object.hasOwn(v, k) ? v[k] : undefined, [...path, k], issues)] as const);
    const unknown = Object.keys(v).filter((k) => !Object.hasOwn(shape, k));
    if (unknown.length > 0) {
      const names = unknown.map((k) => JSON.stringify(k)).join(', ');
      issues.push({ path, key: unknown[0], message: `Unrecognized key${unknown.length > 1 ? 's' : ''}: ${names}` });
    }
    // Defined with fromEntries (never assigned), and absent optional settings stay absent.
    return Object.fromEntries(entries.filter(([, out]) => out !== undefined)) as Out<S>;
  };
}

/** A nested mapping that may be left out, giving then every default of its settings. */
export function section<S extends Shape>(shape: S): Check<Out<S>> {
  const check = object(shape);
  return withDefault(check, () => check({}, [], []));
}

/** A mapping of names (each passing `key`) to values of one kind. */
export function record<T>(key: Rule<string>, value: Check<T>): Check<Record<string, T>> {
  return (v, path, issues) => {
    if (!isMapping(v)) return fail(issues, path, 'must be a mapping');
    const entries = Object.entries(v).map(([k, x]) => {
      ruled(k, [key], [...path, k], issues);
      return [k, value(x, [...path, k], issues)] as const;
    });
    return Object.fromEntries(entries);
  };
}
