// Every child process the bench starts is registered here and ended when the bench ends,
// whether it finishes, fails, or is interrupted (SIGINT/SIGTERM). Only these pids are signalled.
import { setTimeout as sleep } from 'node:timers/promises';

const children = new Set();
const finalizers = [];
let stopping = false;

/** Something to do after the children are stopped (e.g. remove a temp dir); runs once. */
export function onCleanup(fn) {
  finalizers.push(fn);
}

function finalize() {
  while (finalizers.length > 0) {
    try {
      finalizers.pop()();
    } catch {
      // best effort
    }
  }
}

/** Registers a child; returns it. */
export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Waits until the child has exited, at most `ms`; true when it has. */
export async function exited(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return Promise.race([new Promise((resolve) => child.once('exit', () => resolve(true))), sleep(ms).then(() => false)]);
}

/** Ends one child: `signal` first, SIGKILL after `graceMs`. */
export async function stop(child, signal = 'SIGTERM', graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
  if (!(await exited(child, graceMs))) child.kill('SIGKILL');
  await exited(child, 2000);
}

export async function stopAll() {
  await Promise.all([...children].map((c) => stop(c)));
}

let installed = false;
/** Ends all children on exit, on an error and on SIGINT/SIGTERM. */
export function installCleanup() {
  if (installed) return;
  installed = true;
  // Last resort, synchronous: whatever is still running when the process exits.
  process.on('exit', () => {
    for (const c of children) {
      try {
        c.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    finalize();
  });
  const onSignal = (signal) => {
    stopping = true;
    console.error(`\n${signal}: stopping the bench's child processes`);
    void stopAll().finally(() => {
      finalize();
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** Runs `main`, then ends every child; a failure is printed and exits non-zero. */
export async function runMain(main) {
  installCleanup();
  try {
    await main();
  } catch (err) {
    if (stopping) return; // interrupted: the children were killed under the run's feet
    console.error(err instanceof Error ? err.stack : err);
    process.exitCode = 1;
  } finally {
    await stopAll();
    finalize();
  }
}

/** Resolves with the first stdout line parsed as JSON (bounded by `ms`). */
export function firstJsonLine(child, ms = 15_000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no start-up line from pid ${child.pid} within ${ms} ms`)), ms);
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf.slice(0, nl)));
      } catch (err) {
        reject(err);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pid ${child.pid} exited (${code}) before it started`));
    });
  });
}
