import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { loadTokenizer } from '../../src/metering/tokenizer.js';
import { json, runCli } from '../helpers/cli.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

const USAGE = { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 };
const event = (content: string) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content } }] })}\n\n`;

/** An upstream with the shapes the fake one lacks: an interim 103 before the answer, and SSE with a Content-Length. */
function edgeUpstream(): Server {
  return createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url?.endsWith('/early')) {
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        const body = JSON.stringify({ id: 'x', object: 'chat.completion', model: 'gpt-4o-mini', choices: [], usage: USAGE });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
        return;
      }
      const body = ['Hello', ' world', ' and', ' more'].map(event).join('') + 'data: [DONE]\n\n';
      res.writeHead(200, { 'content-type': 'Text/Event-Stream; charset=UTF-8', 'content-length': Buffer.byteLength(body) }).end(body);
    });
  });
}

describe('the relay with unusual upstream answers', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: Server;
  let soakp: Soakp;
  let server: RunningServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    temp = tempDir();
    upstream = edgeUpstream();
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const config = join(temp.dir, 'soakp.yaml');
    writeFileSync(config, 'budgets:\n  completionCeiling: 2\n');
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`, SOAKP_CONFIG: config };
    json(await runCli(['user', 'add', 'e@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    soakp = await Soakp.open({ logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await new Promise((resolve) => upstream?.close(resolve));
    temp?.cleanup();
  });

  const post = (token: string, path: string) =>
    fetch(`${server.url}/v1/${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }) });

  it('passes the answer that follows an interim 103 Early Hints', async () => {
    const { token } = json<{ token: string }>(await runCli(['token', 'issue', 'e@example.com', '--json'], env));
    const res = await post(token, 'early');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { usage: unknown }).usage).toEqual(USAGE);
  });

  it('drops the upstream Content-Length of a metered stream it may cut short, and cuts it cleanly', async () => {
    // An exact cut-off (after ' world', at 2 tokens) needs the tokenizer; until it is loaded the
    // text's bytes bound the tokens, and this ceiling would end the stream before 'Hello'.
    await loadTokenizer();
    const { token } = json<{ token: string }>(await runCli(['token', 'issue', 'e@example.com', '--token-budget', '1000', '--json'], env));
    for (let i = 0; i < 2; i++) { // twice: a framing error would spill into the next answer on the connection
      const res = await post(token, 'chat/completions');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBeNull();
      const text = await res.text();
      expect(text.startsWith(event('Hello') + event(' world'))).toBe(true);
      expect(text).toContain('"code":"insufficient_quota"');
    }
  });
});
