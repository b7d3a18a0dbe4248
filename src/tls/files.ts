import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { type Logger, SoakpError, isSoakpError } from '../shared/index.js';
import { checkPair } from './pair.js';
import { type CertificatePair, type CertificateSource, changeSignal } from './source.js';

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** Files are read again at least this often, whatever the watcher says (network mounts, Kubernetes secrets). */
const POLL_MS = 1_000;
/** Quiet time after a change before the files are read: a pair is rarely written in one step. */
const SETTLE_MS = 100;

/** Reads and checks the pair; throws `invalid_config` naming the file at fault. */
export function readCertificateFiles(files: CertificateFiles): CertificatePair {
  return checkPair(readText(files.cert, 'certificate'), readText(files.key, 'private key'), files);
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new SoakpError('invalid_config', `Cannot read the TLS ${what} file ${file} (${code}).`);
  }
}

/**
 * The certificate from two PEM files, picked up again when they change (replaced by a rename
 * or overwritten in place). A new pair is checked before it is used; a broken one is logged
 * and the one in use stays. Throws at once when the files cannot serve now.
 */
export function fileCertificateSource(files: CertificateFiles, logger: Logger): CertificateSource {
  let pair = readCertificateFiles(files);
  warnIfExpiring(pair, files.cert, logger);
  let seen = fingerprint(pair.cert, pair.key);
  // A refused state is logged once it has stayed the same for one more look: a pair half
  // written (the new certificate, the old key) is not worth an error, a lasting one is.
  let refused: { print: string; logged: boolean } | undefined;
  const signal = changeSignal();
  let settle: NodeJS.Timeout | undefined;
  const later = (ms: number): void => {
    clearTimeout(settle);
    settle = setTimeout(look, ms);
    settle.unref();
  };

  function look(): void {
    let cert: string;
    let key: string;
    let print: string;
    try {
      cert = readText(files.cert, 'certificate');
      key = readText(files.key, 'private key');
      print = fingerprint(cert, key);
    } catch (err) {
      return refuse(`unreadable:${(err as Error).message}`, err);
    }
    if (print === seen) {
      refused = undefined;
      return;
    }
    try {
      pair = checkPair(cert, key, files);
    } catch (err) {
      return refuse(print, err);
    }
    seen = print;
    refused = undefined;
    logger.info({ cert: files.cert, serial: pair.serial, notAfter: pair.notAfter.toISOString() }, 'TLS certificate reloaded');
    warnIfExpiring(pair, files.cert, logger);
    signal.emit(pair);
  }

  function refuse(print: string, err: unknown): void {
    if (refused?.print !== print) {
      refused = { print, logged: false };
      later(SETTLE_MS * 3);
      return;
    }
    if (refused.logged) return;
    refused.logged = true;
    // Only soakp's own message: it names files, never their contents.
    const reason = isSoakpError(err) ? err.message : 'unexpected failure';
    logger.error({ cert: files.cert, key: files.key, reason }, `The new TLS certificate was refused; the one in use (serial ${pair.serial}) stays: ${reason}`);
  }

  const names = new Set([basename(files.cert), basename(files.key)]);
  const watchers: FSWatcher[] = [];
  // The folders are watched, not the files: a rename puts a new file (inode) in place of the watched one.
  for (const dir of new Set([dirname(files.cert), dirname(files.key)])) {
    try {
      const watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || names.has(name.toString())) later(SETTLE_MS);
      });
      watcher.on('error', () => watcher.close()); // the poll below still looks
      watchers.push(watcher);
    } catch {
      // No watcher here (some file systems): the poll covers it.
    }
  }
  const poll = setInterval(look, POLL_MS);
  poll.unref();
  return {
    current: () => pair,
    onChange: signal.listen,
    close: () => {
      clearInterval(poll);
      clearTimeout(settle);
      for (const watcher of watchers) watcher.close();
    },
  };
}

/** Served all the same (refusing to start helps nobody), but said: clients will refuse it. */
function warnIfExpiring(pair: CertificatePair, file: string, logger: Logger): void {
  const left = pair.notAfter.getTime() - Date.now();
  if (left > 7 * 86_400_000) return;
  const when = pair.notAfter.toISOString();
  logger.warn({ cert: file, notAfter: when }, left <= 0 ? `The TLS certificate in ${file} expired at ${when}; clients will refuse it` : `The TLS certificate in ${file} expires at ${when}; renew it`);
}

function fingerprint(cert: string, key: string): string {
  return createHash('sha256').update(cert).update('\0').update(key).digest('hex');
}
