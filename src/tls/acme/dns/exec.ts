import { spawn } from 'node:child_process';
import { AcmeError } from '../errors.js';
import type { DnsProvider } from './provider.js';

/** How much of a failing hook's stderr goes into the error: its end says what went wrong. */
const STDERR_TAIL = 500;

export interface ExecProviderOptions {
  /** The hook, run without a shell as `command present|cleanup <fqdn.> <value>` (lego's `exec` convention). */
  readonly command: string;
  /** Extra environment for the hook, over the process's own. */
  readonly env?: NodeJS.ProcessEnv;
  /** The hook is killed and the step fails after this long. */
  readonly timeoutMs?: number;
}

/** DNS-01 through a program of the operator's: any DNS service a script can reach. */
export function execProvider(options: ExecProviderOptions): DnsProvider {
  const run = (action: 'present' | 'cleanup', fqdn: string, value: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn(options.command, [action, fqdn, value], {
        env: { ...process.env, ...options.env },
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: options.timeoutMs ?? 120_000,
      });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-STDERR_TAIL);
      });
      child.on('error', (err) =>
        reject(new AcmeError('acme_dns_provider_failed', `DNS hook ${options.command} could not run: ${err.message}`, { cause: err })),
      );
      child.on('close', (code, signal) => {
        if (code === 0) return resolve();
        const how = signal === null ? `exited with ${code}` : `was killed by ${signal}`;
        const tail = stderr.trim();
        reject(new AcmeError('acme_dns_provider_failed', `DNS hook ${action} for ${fqdn} ${how}${tail === '' ? '' : `: ${tail}`}`));
      });
    });
  return {
    name: 'exec',
    present: (fqdn, value) => run('present', fqdn, value),
    cleanup: (fqdn, value) => run('cleanup', fqdn, value),
  };
}
