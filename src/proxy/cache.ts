const DEFAULT_LIMIT = 10_000;

/**
 * A map with a size bound: when full, the oldest entry goes (insertion order). Entries are
 * never stale for long because the owner clears the whole cache on every store change.
 */
export class BoundedCache<V> {
  readonly #map = new Map<string, V>();

  constructor(private readonly limit = DEFAULT_LIMIT) {}

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  set(key: string, value: V): void {
    if (this.#map.size >= this.limit && !this.#map.has(key)) this.#map.delete(this.#map.keys().next().value as string);
    this.#map.set(key, value);
  }

  clear(): void {
    this.#map.clear();
  }
}
