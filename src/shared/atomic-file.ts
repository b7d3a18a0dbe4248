import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';

/**
 * Writes a secret-bearing file with mode 0600 so a crash never leaves it half-written:
 * write a temporary file, fsync, rename over the target. `exclusive` instead creates the
 * file in place and fails if it exists (two processes racing to generate a key).
 */
export function writeFileAtomic(file: string, text: string, options: { exclusive?: boolean } = {}): void {
  const target = options.exclusive ? file : `${file}.tmp-${process.pid}`;
  const fd = openSync(target, options.exclusive ? 'wx' : 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (!options.exclusive) renameSync(target, file);
}
