import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './load.js';

function fromFile(text: string): ReturnType<typeof loadConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'soakp-config-'));
  try {
    const path = join(dir, 'soakp.yaml');
    writeFileSync(path, text);
    return loadConfig({ config: path }, {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the trustProxy setting', () => {
  it('trusts no proxy by default', () => {
    expect(loadConfig({}, {}).config.trustProxy).toEqual([]);
  });

  it('reads comma-separated CIDRs from SOAKP_TRUST_PROXY, over the config file', () => {
    expect(loadConfig({}, { SOAKP_TRUST_PROXY: '127.0.0.1/32, 10.0.0.0/8,,::1' }).config.trustProxy).toEqual(['127.0.0.1/32', '10.0.0.0/8', '::1']);
    expect(fromFile('trustProxy: [172.16.0.0/12, "fd00::/8"]\n').config.trustProxy).toEqual(['172.16.0.0/12', 'fd00::/8']);
    expect(fromFile('trustProxy: 192.168.0.0/16\n').config.trustProxy).toEqual(['192.168.0.0/16']);
  });

  it('refuses what is not an address or a range, naming it and where it came from', () => {
    expect(() => loadConfig({}, { SOAKP_TRUST_PROXY: '10.0.0.0/8,nginx' })).toThrow(/trustProxy: must be IP addresses or CIDRs .*\("nginx" is not\) \(from SOAKP_TRUST_PROXY\)/);
    expect(() => fromFile('trustProxy: [10.0.0.0/33]\n')).toThrow(/trustProxy: .*\("10\.0\.0\.0\/33" is not\)/);
    expect(() => fromFile('trustProxy: 8\n')).toThrow(/trustProxy: must be IP addresses or CIDRs/);
  });

  it('gives the connection limits their documented defaults, and refuses a cap of 0', () => {
    expect(loadConfig({}, {}).config.limits).toMatchObject({ headersTimeout: 10_000, keepAliveTimeout: 5_000, maxConnections: 10_000, maxConnectionsPerAddress: 256 });
    expect(() => fromFile('limits:\n  maxConnectionsPerAddress: 0\n')).toThrow(/limits\.maxConnectionsPerAddress: must be at least 1/);
  });
});
