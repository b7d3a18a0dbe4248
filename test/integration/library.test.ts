import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3-multiple-ciphers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as soakp from '../../src/index.js';
import { Soakp, SoakpError, UpstreamError } from '../../src/index.js';
import { json, runCli } from '../helpers/cli.js';
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

describe('the library through the pipeline', () => {
  let upstream: FakeUpstream;
  let temp: ReturnType<typeof tempDir>;
  let env: NodeJS.ProcessEnv;
  let lib: Soakp;
  const issue = async (...options: string[]) => json<{ token: string; tokenId: string }>(await runCli(['token', 'issue', 'lib@example.com', ...options, '--json'], env));
  const hi = (model: string, more: Record<string, unknown> = {}) => ({ model, messages: [{ role: 'user', content: 'hi' }], ...more });

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    temp = tempDir();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    json(await runCli(['user', 'add', 'lib@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    lib = await Soakp.open({ logLevel: 'silent', env });
  });
  afterAll(async () => {
    await lib?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  it('records a metered request in the usage ledger with the usage the upstream reported', async () => {
    const { token, tokenId } = await issue();
    // An instance of its own: closing it flushes its ledger rows.
    const own = await Soakp.open({ logLevel: 'silent', env });
    try {
      await expect(own.request(token, 'chat/completions', hi('gpt-4o-mini'))).resolves.toMatchObject({ usage: { prompt_tokens: 5, completion_tokens: 3 } });
    } finally {
      await own.close();
    }
    const db = new Database(join(temp.dir, 'soakp.db'), { readonly: true });
    const rows = db.prepare('SELECT model, endpoint, status, prompt_tokens, completion_tokens, source, bytes_in, bytes_out FROM usage WHERE token_id = ?').all(tokenId);
    db.close();
    expect(rows).toEqual([{ model: 'gpt-4o-mini', endpoint: 'chat', status: 200, prompt_tokens: 5, completion_tokens: 3, source: 'reported', bytes_in: upstream.requests.at(-1)?.body.length, bytes_out: expect.any(Number) }]);
    expect((rows[0] as { bytes_out: number }).bytes_out).toBeGreaterThan(0);
  });

  it('refuses a model outside the token’s scope with a 403 SoakpError, before the upstream hears of it', async () => {
    const { token } = await issue('--models', 'o3*');
    const before = upstream.requests.length;
    const refused = lib.request(token, 'chat/completions', hi('gpt-4o-mini'));
    await expect(refused).rejects.toBeInstanceOf(SoakpError);
    await expect(refused).rejects.toMatchObject({ status: 403, code: 'model_not_allowed' });
    expect(upstream.requests.length).toBe(before);
    await expect(lib.request(token, 'chat/completions', hi('o3-mini'))).resolves.toMatchObject({ object: 'chat.completion', model: 'o3-mini' });
    expect(upstream.requests.length).toBe(before + 1);
  });

  it('rejects an upstream 4xx with an UpstreamError carrying its status and body', async () => {
    const { token } = await issue();
    const failed = lib.request(token, 'fail');
    await expect(failed).rejects.toBeInstanceOf(UpstreamError);
    await expect(failed).rejects.toMatchObject({
      status: 429,
      body: { error: { message: 'upstream says slow down', type: 'rate_limit_error', code: 'rate_limit_exceeded', param: null } },
    });
    await expect(lib.request(token, 'no-such-thing', { x: 1 })).rejects.toMatchObject({ name: 'UpstreamError', status: 404, body: { error: { code: 'unknown_url' } } });
  });

  it('returns a streamed answer (text/event-stream) whole, as text', async () => {
    const { token } = await issue();
    const answer = await lib.request(token, 'chat/completions', hi('gpt-4o-mini', { stream: true }));
    expect(typeof answer).toBe('string');
    // Byte for byte what the upstream sends for the client's own request (soakp asks it for the
    // stream's usage, and takes out what that adds).
    const direct = await fetch(`${upstream.baseUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(hi('gpt-4o-mini', { stream: true })) });
    expect(direct.headers.get('content-type')).toBe('text/event-stream');
    expect(answer).toBe(await direct.text());
    const deltas = (answer as string).split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)) as { choices: Array<{ delta?: { content?: string } }> });
    expect(deltas.map((d) => d.choices[0]?.delta?.content ?? '').join('')).toBe('Hello world');
    expect((answer as string).endsWith('data: [DONE]\n\n')).toBe(true);
  });
});
