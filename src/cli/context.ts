import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { Accounts } from '../admin/index.js';
import type { Overrides } from '../config/index.js';
import { controlServices, openRuntime, type Runtime } from '../main.js';
import { createLogger } from '../shared/index.js';

export interface GlobalOptions extends Overrides {
  json?: boolean;
}

export function globalsOf(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/**
 * The settings every command takes. `serve` adds its own (host, port, upstream URL, …);
 * other commands have options of the same name with other meanings (`--upstream NAME`).
 */
export function overridesOf(g: GlobalOptions): Overrides {
  return { config: g.config, dataDir: g.dataDir, databaseUrl: g.databaseUrl, encryptDatabase: g.encryptDatabase };
}

/**
 * Opens the runtime for one command, runs it, and always closes the database after. Changes
 * are audited as `cli:<OS user>` from 'cli': whoever can run soakp on this host.
 */
export async function withRuntime<T>(cmd: Command, fn: (rt: Runtime, accounts: Accounts, g: GlobalOptions) => Promise<T>): Promise<T> {
  const g = globalsOf(cmd);
  // Commands log warnings only, synchronously to stderr, so nothing is lost when they exit.
  const logger = createLogger(g.logLevel ?? process.env.SOAKP_LOG_LEVEL ?? 'warn', { fd: 2, sync: true });
  const rt = await openRuntime({ flags: overridesOf(g), logger });
  const services = controlServices(rt);
  try {
    return await fn(rt, services.accounts(`cli:${osUser()}`, 'cli'), g);
  } finally {
    try {
      await services.close();
    } finally {
      await rt.close();
    }
  }
}

function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    // A container user without a passwd entry: name the uid instead.
    return process.env.USER ?? `uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/**
 * Prints `data` as JSON with --json, else the human text, made printable. JSON escapes C0
 * controls itself; C1 controls and bidi marks are escaped too (`\uXXXX`: the same value to
 * a JSON reader, nothing a terminal acts on).
 */
/** `human` may be a function: a long table is then only built when it is shown. */
export function output(g: GlobalOptions, data: unknown, human: string | (() => string)): void {
  process.stdout.write(g.json ? `${JSON.stringify(data, null, 2).replace(UNSAFE, escape)}\n` : `${printable(typeof human === 'string' ? human : human())}\n`);
}

// Stored text (token names, audit details, ids typed by a user) can hold terminal escapes:
// colours, a window title, a carriage return that hides the line, bidi overrides that reorder
// it. They are shown as \uXXXX instead. Tabs and new lines stay in messages; not in table cells.
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_IN_CELL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** `text` with control and bidi characters escaped (tabs and new lines kept unless `cell`). */
export function printable(text: string, cell = false): string {
  return text.replace(cell ? UNSAFE_IN_CELL : UNSAFE, (c) => NAMED[c] ?? escape(c));
}

function escape(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** The upstream key from --key-stdin (preferred: it stays out of shell history and `ps`) or --key. */
export async function readKey(opts: { key?: string; keyStdin?: boolean }): Promise<string | undefined> {
  if (opts.key !== undefined && opts.keyStdin) throw new UsageError('Give the key by --key or --key-stdin, not both.');
  return opts.keyStdin ? stdinText() : opts.key;
}

export async function stdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An ISO time (to the second), or null: JSON shows null, tables show '-'. */
export function when(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A table row: tab-separated cells, '-' for absent values. */
export function row(cells: Array<string | number | null | undefined>): string {
  return cells.map((c) => (c === null || c === undefined || c === '' ? '-' : printable(String(c), true))).join('\t');
}
