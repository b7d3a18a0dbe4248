import type { Client, ClientConfig } from 'pg';
import type { Logger } from '../../shared/index.js';

/**
 * Committed changes, across every instance on one PostgreSQL: each write to cached data
 * sends NOTIFY (after its transaction commits: PostgreSQL delivers it only then), and one
 * dedicated connection LISTENs. Payloads carry nothing but the sending instance's id.
 * Notifications are not replayed, so after the listening connection is lost and made again,
 * every listener is called once: the caches reload whole.
 */
export class PgChanges {
  readonly #listeners = new Set<() => void>();
  #client: Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #delay = 100;

  constructor(
    private readonly connect: () => Client,
    private readonly channel: string,
    private readonly logger: Logger | undefined,
  ) {}

  /** Resolves once listening (the first time); later losses reconnect on their own. */
  async start(): Promise<void> {
    await this.#listen();
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#listeners.clear();
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  #emit(): void {
    for (const listener of this.#listeners) listener();
  }

  async #listen(): Promise<void> {
    const client = this.connect();
    const lost = (err?: Error): void => {
      if (this.#client !== client || this.#closed) return;
      this.#client = undefined;
      client.end().catch(() => undefined);
      this.logger?.warn({ err: err?.message }, 'lost the PostgreSQL connection that listens for changes; reconnecting');
      this.#retry();
    };
    client.on('notification', () => this.#emit());
    client.on('error', lost);
    client.on('end', () => lost());
    await client.connect();
    await client.query(`LISTEN ${quoted(this.channel)}`);
    if (this.#closed) return void client.end().catch(() => undefined);
    this.#client = client;
    this.#delay = 100;
  }

  #retry(): void {
    this.#timer = setTimeout(() => {
      this.#listen().then(
        () => this.#emit(), // what was missed meanwhile is unknown: everything reloads
        (err: unknown) => {
          this.logger?.warn({ err: (err as Error).message }, 'could not listen for PostgreSQL changes yet; retrying');
          this.#delay = Math.min(this.#delay * 2, 5_000);
          this.#retry();
        },
      );
    }, this.#delay);
    this.#timer.unref();
  }
}

/** A channel name as an SQL identifier. */
export function quoted(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export type { ClientConfig };
