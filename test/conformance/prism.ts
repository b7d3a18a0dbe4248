import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

/** The repository's root: this file lives in <root>/test/conformance/. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * OpenAI's OpenAPI description sits in shared/, beside the clone (…/main and …/shared on a
 * developer's machine; CI clones elsewhere but keeps shared/ beside the clone).
 */
export function locateOpenApiSpec(): { path: string; found: boolean } {
  const path = resolve(REPO_ROOT, '../shared/openai-openapi.yaml');
  return { path, found: existsSync(path) };
}

type Json = Record<string, unknown>;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export interface Operation {
  method: string;
  /** The derived spec's path, with `/v1` and any `{param}` templates, e.g. `/v1/files/{file_id}`. */
  path: string;
  operation: Json;
}

export interface DerivedSpec {
  /** The derived document; `writeSpec` puts it on disk with Prism's own origin as its server. */
  doc: Json;
  operations: Operation[];
  /** How many `Transfer-Encoding` response-header declarations were dropped. */
  droppedTransferEncoding: number;
}

/**
 * The copy of the spec that Prism serves: every path prefixed with `/v1` (Prism ignores the
 * path of the spec's server URL), and no `Transfer-Encoding` response-header declarations
 * (Prism would send `Transfer-Encoding: string` on /audio/speech, a framing header no
 * HTTP/1.1 client accepts).
 */
export function deriveSpec(source: string): DerivedSpec {
  const doc = parse(readFileSync(source, 'utf8'), { maxAliasCount: -1 }) as Json;
  const paths = doc.paths as Record<string, Json>;
  const prefixed: Record<string, Json> = {};
  const operations: Operation[] = [];
  let dropped = 0;
  const dropTransferEncoding = (responses: unknown) => {
    for (const response of Object.values((responses ?? {}) as Record<string, Json>)) {
      const headers = response?.headers as Json | undefined;
      if (!headers) continue;
      for (const name of Object.keys(headers)) {
        if (name.toLowerCase() === 'transfer-encoding') {
          delete headers[name];
          dropped++;
        }
      }
      if (Object.keys(headers).length === 0) delete response.headers;
    }
  };
  for (const [path, item] of Object.entries(paths)) {
    prefixed[`/v1${path}`] = item;
    for (const method of METHODS) {
      const operation = item[method] as Json | undefined;
      if (!operation) continue;
      operations.push({ method: method.toUpperCase(), path: `/v1${path}`, operation });
      dropTransferEncoding(operation.responses);
    }
  }
  dropTransferEncoding((doc.components as Json | undefined)?.responses);
  doc.paths = prefixed;
  return { doc, operations, droppedTransferEncoding: dropped };
}

/**
 * Writes the derived spec into `dir` (never into shared/), its `servers` set to Prism's root.
 * Each call writes a new file: Prism watches its spec and restarts when it changes.
 */
export function writeSpec(derived: DerivedSpec, dir: string, origin: string): string {
  const file = join(dir, `openai-openapi.v1.${new URL(origin).port}.yaml`);
  writeFileSync(file, stringify({ ...derived.doc, servers: [{ url: origin }] }, { aliasDuplicateObjects: false, lineWidth: 0 }));
  return file;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** The CLI entry of the installed @stoplight/prism-cli (its `bin`). */
export function prismEntry(): string {
  const require = createRequire(join(REPO_ROOT, 'package.json'));
  const manifestPath = require.resolve('@stoplight/prism-cli/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { version: string; bin: string | Record<string, string> };
  const bin = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin.prism;
  if (!bin) throw new Error('@stoplight/prism-cli declares no `prism` bin');
  return join(dirname(manifestPath), bin);
}

export interface Prism {
  readonly origin: string;
  /** The last lines Prism printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `prism mock` on `spec` and resolves once it answers HTTP: polls `probePath` (with a
 * bearer token, as the spec's security requires) until it gets a 200, for at most
 * `deadlineMs`. Rejects early, with Prism's output, if the process exits.
 */
export async function startPrism(spec: string, port: number, options: { deadlineMs: number; probePath: string }): Promise<Prism> {
  const origin = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [prismEntry(), 'mock', '-h', '127.0.0.1', '-p', String(port), spec], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  // Prism logs every request: keep reading, or a full pipe would stall it. Keep the tail only.
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    tail.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (tail.length > 60) tail.splice(0, tail.length - 60);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exit = new Promise<void>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolveExit();
    });
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const output = () => tail.join('\n');
  const stop = async () => {
    process.off('exit', killOnExit);
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exit;
    clearTimeout(timer);
  };

  const deadline = Date.now() + options.deadlineMs;
  for (;;) {
    if (exited) {
      const { code, signal } = exited;
      throw new Error(`prism exited before it was ready (code ${code}, signal ${signal}):\n${output()}`);
    }
    try {
      const res = await fetch(`${origin}${options.probePath}`, { headers: { authorization: 'Bearer sk-readiness-probe' }, signal: AbortSignal.timeout(5_000) });
      await res.arrayBuffer();
      if (res.status === 200) return { origin, output, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prism was not ready within ${options.deadlineMs} ms:\n${output()}`);
    }
    // The bounded readiness poll is the one wait that is not driven by an event.
    await Promise.race([new Promise((r) => setTimeout(r, 250)), exit]);
  }
}
