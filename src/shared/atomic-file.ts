import { closeSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';

/**
 * Writes a secret-bearing file with mode 0600 so that no reader ever sees it half-written:
 * the text goes to a temporary file, is fsynced, and then takes the target's name — by
 * rename (replace), or with `exclusive` by link, which fails with EEXIST when another
 * process created the file first (two processes racing to generate a key).
 */
export function writeFileAtomic(file: string, text: string, options: { exclusive?: boolean } = {}): void {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (!options.exclusive) return renameSync(tmp, file);
  try {
    linkSync(tmp, file);
  } finally {
    unlinkSync(tmp);
  }
}
