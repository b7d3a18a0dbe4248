import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh data directory, removed by the returned cleanup. */
export function tempDir(prefix = 'soakp-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function randomMasterKey(): string {
  return randomBytes(32).toString('base64');
}

/** A distinctive fake upstream key, easy to search for in files and logs. */
export function canaryKey(): string {
  return `sk-canary-${randomBytes(16).toString('hex')}`;
}
