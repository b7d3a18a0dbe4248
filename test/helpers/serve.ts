import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { BIN } from './cli.js';

export interface ServeProcess {
  readonly url: string;
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything the server wrote so far (its logs). */
  output(): string;
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
