import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as soakp from '../../src/index.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs a script in a fresh Node process from the package root, so `soakp` resolves to this package. */
function runNode(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

// The seed's usage example, made async: save a key, get a token, call the API with it.
const SCRIPT = `
const token = await soakp.saveKey(process.env.KEY, { dataDir: process.env.DIR, upstreamUrl: process.env.UP });
const res = await soakp.request(token, 'chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { dataDir: process.env.DIR, upstreamUrl: process.env.UP });
const server = await soakp.createServer({ port: 0, dataDir: process.env.DIR, upstreamUrl: process.env.UP, logLevel: 'silent' });
const health = (await fetch(server.url + '/healthz')).status;
const models = await (await fetch(server.url + '/v1/models', { headers: { authorization: 'Bearer ' + token } })).json();
await server.close();
await soakp.close();
console.log(JSON.stringify({ tokenShape: /^sk-soakp-/.test(token), content: res.choices[0].message.content, health, models: models.data.length }));
`;

describe('the library API', () => {
  let upstream: FakeUpstream;
  let temp: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    temp = tempDir();
  });
  afterAll(async () => {
    await soakp.close();
    await upstream?.close();
    temp?.cleanup();
  });

  it('saveKey, request and createServer work in-process', async () => {
    const options = { dataDir: temp.dir, upstreamUrl: upstream.baseUrl, env: { SOAKP_MASTER_KEY: randomMasterKey() }, logLevel: 'silent' };
    const key = canaryKey();
    const token = await soakp.saveKey(key, options);
    expect(token).toMatch(/^sk-soakp-/);
    const answer = (await soakp.request(token, 'chat/completions', { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'lib' }] }, options)) as {
      choices: Array<{ message: { content: string } }>;
    };
    expect(answer.choices[0]?.message.content).toBe('echo: lib');
    expect(upstream.requests.at(-1)?.headers.authorization).toBe(`Bearer ${key}`);
    expect(((await soakp.request(token, '/v1/models', undefined, options)) as { data: unknown[] }).data).toHaveLength(1);
    await expect(soakp.request(token, 'fail', undefined, options)).rejects.toMatchObject({ name: 'UpstreamError', status: 429 });
    await expect(soakp.request('sk-soakp-bogus', 'models', undefined, options)).rejects.toMatchObject({ code: 'invalid_api_key' });
    await expect(soakp.saveKey('', options)).rejects.toMatchObject({ code: 'invalid_key' });
  });

  for (const [style, args] of [
    ['import', ['--input-type=module', '-e', `import * as soakp from 'soakp';\n${SCRIPT}`]],
    // CommonJS: Node >= 20.19 loads the ESM package through require(esm).
    ['require', ['--input-type=commonjs', '-e', `const soakp = require('soakp');\n(async () => {\n${SCRIPT}\n})().catch((e) => { console.error(e); process.exit(1); });`]],
  ] as const) {
    it(`works through ${style}('soakp') in a fresh process`, async () => {
      const dir = tempDir();
      try {
        const env = { DIR: dir.dir, UP: upstream.baseUrl, KEY: canaryKey(), SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_LOG_LEVEL: 'silent' };
        const r = await runNode([...args], env);
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toEqual({ tokenShape: true, content: 'echo: hi', health: 200, models: 1 });
      } finally {
        dir.cleanup();
      }
    });
  }
});
