import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { json, runCli } from '../helpers/cli.js';
import { type FakeUpstream, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';

// The upstream bills the chat format's tokens too ("hi" alone is 8 prompt tokens): the
// reservation must cover them, or concurrent requests spend far past a budget.
describe('the prompt bound covers the chat format OpenAI bills', () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let soakp: Soakp | undefined;
  let server: RunningServer | undefined;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    upstream.controls.billedUsage = true;
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    json(await runCli(['user', 'add', 'o@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    soakp = await Soakp.open({ logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  const chat = (token: string) =>
    fetch(`${(server as RunningServer).url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }),
    });

  it('bounds a responses input as a message too: "hi" reserves 8 prompt tokens once counted', async () => {
    const respond = async (budget: string) => {
      const { token } = json<{ token: string }>(await runCli(['token', 'issue', 'o@example.com', '--token-budget', budget, '--budget-period', 'total', '--json'], env));
      return fetch(`${(server as RunningServer).url}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', input: 'hi', max_output_tokens: 1 }),
      });
    };
    // 1 token of text, 3 for the message, 1 for its role, 3 priming the reply; and 1 of output.
    const refused = await respond('8');
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('insufficient_quota');
    expect((await respond('9')).status).toBe(200); // its bound (2 bytes + 7 + 1) is refused, its count fits
  });

  it('a token budget of 30 under ten concurrent "hi" requests ends at most one request past its limit', async () => {
    const { token, tokenId } = json<{ token: string; tokenId: string }>(await runCli(['token', 'issue', 'o@example.com', '--token-budget', '30', '--budget-period', 'total', '--json'], env));
    // The upstream holds what it receives, so every admitted request is in flight while the others are decided.
    upstream.hold();
    const before = upstream.requests.length;
    let refused = 0;
    let refusal: () => void = () => undefined;
    const pending = Array.from({ length: 10 }, () =>
      chat(token).then((res) => {
        if (res.status === 429) {
          refused++;
          refusal();
        }
        return res;
      }),
    );
    while (refused + upstream.requests.length - before < 10) {
      await Promise.race([upstream.received(upstream.requests.length + 1), new Promise<void>((resolve) => (refusal = resolve))]);
    }
    upstream.release();
    const statuses = (await Promise.all(pending)).map((r) => r.status);
    const forwarded = upstream.requests.length - before;
    expect(statuses.filter((s) => s === 200)).toHaveLength(forwarded);
    expect(forwarded).toBeGreaterThan(0);
    // Closing flushes the ledger; then read what the upstream billed for this token's requests.
    await server?.close();
    await soakp?.close();
    [server, soakp] = [undefined, undefined];
    const db = new Database(join(temp.dir, 'soakp.db'), { readonly: true });
    const rows = db.prepare('SELECT prompt_tokens, completion_tokens, source FROM usage WHERE token_id = ?').all(tokenId) as Array<{ prompt_tokens: number; completion_tokens: number; source: string }>;
    db.close();
    expect(rows).toHaveLength(forwarded);
    expect(rows.every((r) => r.source === 'reported' && r.prompt_tokens === 8 && r.completion_tokens === 2)).toBe(true);
    const spent = rows.reduce((sum, r) => sum + r.prompt_tokens + r.completion_tokens, 0);
    expect(spent).toBeLessThanOrEqual(30 + 10); // the limit, plus at most one request's usage
  });
});
