/**
 * Built-in prices in USD per million tokens (OpenAI's list prices; input / output). The
 * config file's `prices` table is laid over this one, so operators can correct or add any
 * model — including other providers' names — without a release.
 */
export const DEFAULT_PRICES: Readonly<Record<string, { input: number; output: number }>> = {
  'gpt-5': { input: 1.25, output: 10 },
  'gpt-5-mini': { input: 0.25, output: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  o3: { input: 2, output: 8 },
  'o3-mini': { input: 1.1, output: 4.4 },
  'o4-mini': { input: 1.1, output: 4.4 },
  'gpt-3.5-turbo': { input: 0.5, output: 1.5 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
};

export type PriceTable = Readonly<Record<string, { input: number; output: number }>>;

export function priceTable(overrides: PriceTable): PriceTable {
  return { ...DEFAULT_PRICES, ...overrides };
}

/** The price of a model: by exact name, else without a dated suffix (`gpt-4o-2024-08-06` → `gpt-4o`). */
export function priceOf(table: PriceTable, model: string | null): { input: number; output: number } | undefined {
  if (model === null) return undefined;
  // Asked twice per metered request (reserve, settle): answers are remembered per table, for a
  // bounded number of names (they come from requests), `null` standing for "no price".
  let known = remembered.get(table);
  if (!known) remembered.set(table, (known = new Map()));
  const hit = known.get(model);
  if (hit !== undefined) return hit ?? undefined;
  const price = own(table, model) ?? own(table, model.replace(/-\d{4}-\d{2}-\d{2}$/, ''));
  if (known.size < 1000) known.set(model, price ?? null);
  return price;
}

const remembered = new WeakMap<PriceTable, Map<string, { input: number; output: number } | null>>();

// The model name comes from the request: `constructor` or `__proto__` must not find Object's.
function own(table: PriceTable, name: string): { input: number; output: number } | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/** Micro-dollars (integers, rounded up: a budget never under-counts). */
export function costMicros(price: { input: number; output: number } | undefined, promptTokens: number, completionTokens: number): number {
  if (!price) return 0;
  return Math.ceil(promptTokens * price.input + completionTokens * price.output);
}
