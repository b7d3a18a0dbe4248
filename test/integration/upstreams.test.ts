import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

describe('named upstreams and their auth styles', () => {
  let temp: ReturnType<typeof tempDir>;
  let a: FakeUpstream;
  let b: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    temp = tempDir();
    [a, b] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
    const config = join(temp.dir, 'soakp.yaml');
    writeFileSync(
      config,
      [
        'defaultUpstream: azure',
        'upstreams:',
        '  azure:',
        `    baseUrl: ${a.baseUrl}`,
        '    auth: api-key',
        '    headers:',
        '      X-Extra: from-config',
        '  claude:',
        `    baseUrl: ${b.baseUrl}/`,
        '    auth: x-api-key',
        '  plain:',
        `    baseUrl: ${b.baseUrl}`,
      ].join('\n'),
    );
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_CONFIG: config };
    soakp = await Soakp.open({ logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await Promise.all([a?.close(), b?.close()]);
    temp?.cleanup();
  });

  const models = (token: string, extra: Record<string, string> = {}) => fetch(`${server.url}/v1/models`, { headers: { authorization: `Bearer ${token}`, ...extra } });

  it('presents the key as each upstream expects, with its extra headers, after removing the caller’s', async () => {
    const azureKey = canaryKey();
    const claudeKey = canaryKey();
    const plainKey = canaryKey();
    const t = json<{ token: string }>(await runCli(['user', 'add', 'u@example.com', '--key-stdin', '--json'], env, azureKey)).token;
    json(await runCli(['key', 'set', 'u@example.com', '--upstream', 'claude', '--key-stdin', '--json'], env, claudeKey));
    json(await runCli(['key', 'set', 'u@example.com', '--upstream', 'plain', '--key-stdin', '--json'], env, plainKey));
    const claude = json<{ token: string }>(await runCli(['token', 'issue', 'u@example.com', '--upstream', 'claude', '--json'], env)).token;
    const plain = json<{ token: string }>(await runCli(['token', 'issue', 'u@example.com', '--upstream', 'plain', '--json'], env)).token;

    expect((await models(t, { 'x-extra': 'from-caller', 'api-key': t })).status).toBe(200);
    const toA = a.requests.at(-1)?.headers;
    expect(toA?.['api-key']).toBe(azureKey);
    expect(toA?.authorization).toBeUndefined();
    expect(toA?.['x-extra']).toBe('from-config');

    expect((await models(claude)).status).toBe(200);
    const toB = b.requests.at(-1)?.headers;
    expect(toB?.['x-api-key']).toBe(claudeKey);
    expect(toB?.authorization).toBeUndefined();
    expect(b.requests.at(-1)?.url).toBe('/v1/models'); // the trailing slash in baseUrl is not doubled

    expect((await models(plain)).status).toBe(200);
    expect(b.requests.at(-1)?.headers.authorization).toBe(`Bearer ${plainKey}`);
  });

  it('refuses a token whose user has no key on its upstream with 403, sending nothing', async () => {
    const before = a.requests.length + b.requests.length;
    const t = json<{ token: string }>(await runCli(['user', 'add', 'nokey@example.com', '--json'], env)).token;
    const res = await models(t);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('no_upstream_key');
    expect(a.requests.length + b.requests.length).toBe(before);
  });
});
