import { Soakp } from '../../src/library.js';
import { json, runCli } from './cli.js';
import { canaryKey } from './temp.js';

export interface Deployment {
  /** Alice's upstream key, as the upstream must receive it. */
  aliceKey: string;
  aliceToken: string;
  bobToken: string;
  revokedToken: string;
}

/**
 * A small deployment made as an operator makes one: users with keys, tokens (one revoked, one
 * with a policy), a user budget, and real requests through the proxy (usage rows, budget
 * counters, a refused token's security event), all audited.
 */
export async function buildDeployment(env: NodeJS.ProcessEnv): Promise<Deployment> {
  const aliceKey = canaryKey();
  const aliceToken = json<{ token: string }>(await runCli(['user', 'add', 'alice@example.com', '--key-stdin', '--json'], env, aliceKey)).token;
  json(await runCli(['user', 'add', 'bob@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
  const bobToken = json<{ token: string }>(await runCli(['token', 'issue', 'bob@example.com', '--name', 'laptop', '--rpm', '50', '--json'], env)).token;
  const revoked = json<{ token: string; tokenId: string }>(await runCli(['token', 'issue', 'alice@example.com', '--name', 'old', '--json'], env));
  json(await runCli(['token', 'revoke', revoked.tokenId, '--json'], env));
  json(await runCli(['user', 'limits', 'alice@example.com', '--token-budget', '100000', '--budget-period', 'day', '--json'], env));
  await serveOnce(env, async (url) => {
    if ((await chat(url, aliceToken)).status !== 200) throw new Error('the source deployment did not answer');
    await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${bobToken}` } });
    await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${revoked.token}` } });
  });
  return { aliceKey, aliceToken, bobToken, revokedToken: revoked.token };
}

/** Serves the deployment `env` names with the library, for `fn`, then closes it (flushing usage and audit). */
export async function serveOnce(env: NodeJS.ProcessEnv, fn: (url: string) => Promise<void>): Promise<void> {
  const soakp = await Soakp.open({ logLevel: 'silent', env });
  try {
    const server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    try {
      await fn(server.url);
    } finally {
      await server.close();
    }
  } finally {
    await soakp.close();
  }
}

export function chat(url: string, token: string): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
}

/** What an operator sees of a deployment through the CLI: equal views mean an equal deployment. */
export async function operatorView(env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const view: Record<string, unknown> = {};
  const commands: Record<string, string[]> = {
    users: ['user', 'list'],
    tokens: ['token', 'list', '--all'],
    usageByUser: ['usage', '--by', 'user'],
    usageByModel: ['usage', '--by', 'model'],
    audit: ['audit', 'list'],
    verify: ['audit', 'verify'],
  };
  for (const [name, args] of Object.entries(commands)) view[name] = json(await runCli([...args, '--json'], env));
  return view;
}
