import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { BIN } from './cli.js';

export interface ServeProcess {
  readonly url: string;
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything the server wrote so far (its logs). */
  output(): string;
  /** Resolves with the first match of `re` in the output (what is there already, or what comes); rejects after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number>;
}

/** Runs `soakp serve` in a child process on 127.0.0.1 and a free port; resolves once it listens. */
export function startServe(env: NodeJS.ProcessEnv, args: string[] = []): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
  });
  let out = '';
  const exited = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? -1)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`soakp serve did not start:\n${out}`));
    }, 15_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /"url":"(https?:\/\/127\.0\.0\.1:\d+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1] as string,
          child,
          output: () => out,
          waitFor: (re, timeoutMs = 30_000) => waitFor(child, () => out, re, timeoutMs),
          stop: () => {
            child.kill('SIGTERM');
            return exited;
          },
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`soakp serve exited ${code}:\n${out}`));
    });
  });
}

/** Starts several servers together; if one fails to start, stops those that did before rejecting. */
export async function startServes(runs: ReadonlyArray<{ env: NodeJS.ProcessEnv; args?: string[] }>): Promise<ServeProcess[]> {
  const started = await Promise.allSettled(runs.map((r) => startServe(r.env, r.args)));
  const failed = started.find((s) => s.status === 'rejected');
  const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  if (!failed) return ok;
  await Promise.all(ok.map((s) => s.stop()));
  throw failed.reason;
}

function waitFor(child: ChildProcessWithoutNullStreams, out: () => string, re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = re.exec(out());
      if (m) {
        done();
        resolve(m);
      }
      return m !== null;
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${re} not seen in the server's output within ${timeoutMs} ms:\n${out()}`));
    }, timeoutMs);
    // Listeners added after the helper's own one: the output is complete when they run.
    const onData = (): void => void check();
    function done(): void {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.stderr.off('data', onData);
    }
    if (check()) return;
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
  });
}
