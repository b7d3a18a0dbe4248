import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

// SECURITY.md 1 and 6: after storing canary keys, issuing tokens and running every error
// path at the most verbose log level, no file in the data directory and no output contains
// a key, a token or the master key.
describe('canary: secrets never appear at rest or in logs', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let server: ServeProcess;
  const master = randomMasterKey();
  const keys = [canaryKey(), canaryKey(), canaryKey()];
  const tokens: string[] = [];
  const cliOutput: string[] = [];
  let env: NodeJS.ProcessEnv;

  const cli = async (args: string[], input?: string) => {
    const r = await runCli([...args, '--json'], env, input);
    cliOutput.push(r.stderr); // stdout carries the tokens by design; stderr must not
    return r;
  };

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: master, SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_LOG_LEVEL: 'trace' };
    server = await startServe(env, ['--log-level', 'trace']);
  });

  afterAll(async () => {
    if (server && server.child.exitCode === null) await server.stop();
    await upstream?.close();
    temp?.cleanup();
  });

  it('runs the success and error paths, then finds no secret anywhere', async () => {
    tokens.push(json<{ token: string }>(await cli(['user', 'add', 'canary@example.com', '--key-stdin'], keys[0])).token);
    tokens.push(json<{ token: string }>(await cli(['token', 'issue', 'canary@example.com'])).token);
    const admin = json<{ token: string }>(await cli(['admin', 'token'])).token;
    tokens.push(admin);
    const h = (t: string) => ({ authorization: `Bearer ${t}` });

    expect((await fetch(`${server.url}/v1/models`, { headers: h(tokens[0] as string) })).status).toBe(200);
    expect((await fetch(`${server.url}/v1/fail`, { headers: h(tokens[0] as string) })).status).toBe(429);
    expect((await fetch(`${server.url}/v1/models`, { headers: h(`${(tokens[0] as string).slice(0, -2)}xx`) })).status).toBe(401);
    expect((await fetch(`${server.url}/v1/models`, { headers: { 'x-api-key': tokens[1] as string, authorization: h(tokens[0] as string).authorization } })).status).toBe(401);
    expect((await fetch(`${server.url}/v1/models`, { headers: h(admin) })).status).toBe(401);
    const saved = await fetch(`${server.url}/api/keys`, { method: 'POST', headers: { ...h(admin), 'content-type': 'application/json' }, body: JSON.stringify({ key: keys[1] }) });
    expect(saved.status).toBe(201);
    tokens.push(((await saved.json()) as { token: string }).token);
    expect((await fetch(`${server.url}/api/keys`, { method: 'POST', headers: { ...h(admin), 'content-type': 'application/json' }, body: `{"key":"${keys[2]}",` })).status).toBe(400);
    expect((await fetch(`${server.url}/api/keys`, { method: 'POST', headers: { ...h(tokens[0] as string), 'content-type': 'application/json' }, body: JSON.stringify({ key: keys[2] }) })).status).toBe(401);
    await cli(['key', 'set', 'canary@example.com', '--key-stdin'], keys[2]);
    await cli(['user', 'add', 'canary@example.com', '--key-stdin'], keys[0]); // exists: error path
    await cli(['user', 'add', 'other@example.com', '--key', keys[0] as string, '--upstream', 'nowhere']); // error path

    // An upstream that is down: 502 from the proxy, logged at error level with its cause.
    await upstream.close();
    const down = await fetch(`${server.url}/v1/models`, { headers: h(tokens[0] as string) });
    expect(down.status).toBe(502);
    expect(JSON.stringify(await down.json())).not.toContain(keys[2]);

    const whileRunning = dataDirText();
    expect(await server.stop()).toBe(0);
    const haystacks = { logs: server.output(), cli: cliOutput.join('\n'), dataWhileRunning: whileRunning, dataAfterStop: dataDirText() };
    expect(haystacks.logs).toContain('"msg":"request"'); // the logs were written at all
    for (const [where, text] of Object.entries(haystacks)) {
      for (const secret of [...keys, ...tokens, master, Buffer.from(master, 'base64').toString('hex')]) {
        expect(text.includes(secret), `${where} contains a secret`).toBe(false);
        // Also no long fragment of one (e.g. a token cut by a log formatter).
        expect(text.includes(secret.slice(-24)), `${where} contains a secret's tail`).toBe(false);
      }
    }
  });

  /** Every file in the data directory, as latin1 text so any byte sequence can be searched. */
  function dataDirText(): string {
    return readdirSync(temp.dir)
      .filter((f) => statSync(join(temp.dir, f)).isFile())
      .map((f) => readFileSync(join(temp.dir, f)).toString('latin1'))
      .join('\n');
  }
});
