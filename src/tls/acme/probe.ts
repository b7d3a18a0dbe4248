import { get } from 'node:https';

/**
 * Asks the directory once, bounded, without acme-client's retries (which wait more than a minute
 * on a refused connection): undefined when it answers with JSON, else why not (for a log line).
 */
export function probeDirectory(directoryUrl: string, caPem: string | undefined, timeoutMs = 10_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = get(directoryUrl, { ...(caPem === undefined ? {} : { ca: caPem }), timeout: timeoutMs, headers: { accept: 'application/json' } }, (res) => {
      res.resume();
      const ok = res.statusCode === 200 && (res.headers['content-type'] ?? '').includes('json');
      resolve(ok ? undefined : `HTTP ${res.statusCode ?? 0}${ok ? '' : ' (not an ACME directory)'}`);
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}
