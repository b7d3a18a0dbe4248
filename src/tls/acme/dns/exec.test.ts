import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../../../test/helpers/temp.js';
import { execProvider } from './exec.js';

describe('exec DNS provider', () => {
  const temp = tempDir('soakp-exec-');
  afterAll(() => temp.cleanup());
  const script = (name: string, body: string): string => {
    const path = join(temp.dir, name);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };

  it('runs HOOK present|cleanup <fqdn.> <value> with its environment', async () => {
    const log = join(temp.dir, 'calls.log');
    const hook = script('ok.sh', `echo "$1 $2 $3 $EXTRA" >> "${log}"`);
    const dns = execProvider({ command: hook, env: { EXTRA: 'seen' } });
    await dns.present('_acme-challenge.example.com.', 'abc');
    await dns.cleanup('_acme-challenge.example.com.', 'abc');
    expect(readFileSync(log, 'utf8')).toBe('present _acme-challenge.example.com. abc seen\ncleanup _acme-challenge.example.com. abc seen\n');
  });

  it('a non-zero exit fails with the tail of stderr; a hook that cannot run and one that hangs fail too', async () => {
    const failing = script('fail.sh', 'i=0; while [ $i -lt 200 ]; do echo "noise line $i" >&2; i=$((i+1)); done; echo "API said: no" >&2; exit 4');
    await expect(execProvider({ command: failing }).present('_acme-challenge.example.com.', 'v')).rejects.toMatchObject({
      code: 'acme_dns_provider_failed',
      message: expect.stringMatching(/^DNS hook present for _acme-challenge\.example\.com\. exited with 4: .{0,500}API said: no$/s),
    });
    await expect(execProvider({ command: join(temp.dir, 'absent.sh') }).cleanup('x.', 'v')).rejects.toThrow(/could not run: .*ENOENT/);
    const hanging = script('hang.sh', 'exec sleep 30');
    await expect(execProvider({ command: hanging, timeoutMs: 200 }).present('x.', 'v')).rejects.toThrow(/was killed by SIGTERM/);
  });
});
