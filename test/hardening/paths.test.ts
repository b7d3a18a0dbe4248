import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf, harness, send } from '../helpers/hardening.js';

const CHAT = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] });
const LONG_CHAT = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 2, messages: [{ role: 'user', content: 'hello '.repeat(50) }] });

describe('path spellings: one canonical path is judged and forwarded', () => {
  let h: Awaited<ReturnType<typeof harness>>;
  beforeAll(async () => (h = await harness('budgets:\n  completionCeiling: 2\n')));
  afterAll(() => h?.close());

  const auth = (token: string) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });

  const spellings = [['/v1/%63hat/completions'], ['/v1//chat/completions'], ['/v1/chat//completions'], ['/v1/%63%68%61%74/completions']];

  it.each(spellings)('meters %s as chat: a prompt over the budget is refused before the upstream', async (path) => {
    // About 50 tokens of prompt against a budget of 10: refused if metered, served if not.
    const token = await h.issue('--token-budget', '10', '--budget-period', 'day');
    const before = h.upstream.requests.length;
    const res = await send(h.server.url, 'POST', path, auth(token), LONG_CHAT);
    expect(res.status).toBe(429);
    expect(codeOf(res.body)).toBe('insufficient_quota');
    expect(h.upstream.requests.length).toBe(before);
  });

  it.each(spellings)('forwards %s as /v1/chat/completions', async (path) => {
    const token = await h.issue('--token-budget', '1000');
    expect((await send(h.server.url, 'POST', path, auth(token), CHAT)).status).toBe(200);
    expect(h.upstream.requests.at(-1)?.url).toBe('/v1/chat/completions');
  });

  it.each([['--token-budget', '1000'], ['--tpm', '1000'], ['--models', 'gpt-4o*'], ['--endpoints', 'chat']])('refuses paths it cannot meter for a token with %s %s, before the upstream', async (...option) => {
    const token = await h.issue(...option);
    const before = h.upstream.requests.length;
    for (const path of ['/v1/CHAT/completions', '/v1/Chat/Completions', '/v1/chat%2Dcompletions', '/v1/unknown/thing']) {
      const res = await send(h.server.url, 'POST', path, auth(token), CHAT);
      expect(res.status, path).toBe(403);
      expect(codeOf(res.body)).toMatch(/^endpoint_not_(metered|allowed)$/);
      if (codeOf(res.body) === 'endpoint_not_metered') expect(JSON.parse(res.body).error.message).toContain('/v1/');
    }
    expect(h.upstream.requests.length).toBe(before);
  });

  it('lets a token without budgets or scopes reach every path, as spelled canonically', async () => {
    const token = await h.issue('--rpm', '100');
    const res = await send(h.server.url, 'POST', '/v1/CHAT//completions', auth(token), CHAT);
    expect(res.status).toBe(404); // the fake upstream's own answer: it has no such path
    expect(h.upstream.requests.at(-1)?.url).toBe('/v1/CHAT/completions');
  });

  it('refuses paths that cannot be canonicalised with 400', async () => {
    const token = await h.issue();
    for (const path of ['/v1/%2e%2e/admin', '/v1/a%2fb', '/v1/%zz', '/v1/%c0%ae', '/v1/embeddings#x', '/v1/chat/completions?a=1#b']) {
      const res = await send(h.server.url, 'POST', path, auth(token), CHAT);
      expect(res.status, path).toBe(400);
      expect(codeOf(res.body)).toBe('invalid_request');
    }
  });
});

describe('unknownEndpoints: allow', () => {
  let h: Awaited<ReturnType<typeof harness>>;
  beforeAll(async () => (h = await harness('budgets:\n  unknownEndpoints: allow\n')));
  afterAll(() => h?.close());

  it('forwards paths soakp cannot meter for budgeted tokens, unmetered', async () => {
    const token = await h.issue('--token-budget', '1000');
    const res = await send(h.server.url, 'POST', '/v1/custom/thing', { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, CHAT);
    expect(res.status).toBe(404);
    expect(h.upstream.requests.at(-1)?.url).toBe('/v1/custom/thing');
  });
});
