import { setTimeout as delay } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../src/http/server.js';
import { Soakp } from '../../src/library.js';
import { type OpenedPage, type PageServer, chromiumAvailable, launchChromium, openPage, startPageServer } from '../helpers/browser.js';
import { json, runCli } from '../helpers/cli.js';
import { SSE_EVENTS } from '../helpers/fake-routes.js';
import { type FakeUpstream, Gate, startFakeUpstream } from '../helpers/fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from '../helpers/temp.js';
import { CHAT_PAGE, chat, shows, startStream, streamChat, streamOutcome } from './chat-page.js';

const SUITE = 'a browser page calls soakp with the openai SDK: CORS, streaming, ephemeral tokens';

const corsMessages = (tab: OpenedPage) => tab.console.filter((m) => /cors/i.test(m));

describe.runIf(chromiumAvailable(SUITE))(SUITE, () => {
  let temp: ReturnType<typeof tempDir>;
  let upstream: FakeUpstream;
  let soakp: Soakp;
  let server: RunningServer;
  let env: NodeJS.ProcessEnv;
  let browser: Browser;
  // Three origins: the app's, one no token names, and one only a minting token names.
  let app: PageServer;
  let stranger: PageServer;
  let minted: PageServer;

  beforeAll(async () => {
    temp = tempDir();
    upstream = await startFakeUpstream();
    // No global CORS list: the origins allowed are the ones the tokens name.
    env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl };
    json(await runCli(['user', 'add', 'b@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
    soakp = await Soakp.open({ logLevel: 'silent', env });
    server = await soakp.listen({ host: '127.0.0.1', port: 0 });
    [app, stranger, minted] = await Promise.all([startPageServer(CHAT_PAGE), startPageServer(CHAT_PAGE), startPageServer(CHAT_PAGE)]);
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([app, stranger, minted].map((p) => p?.close()));
    await server?.close();
    await soakp?.close();
    await upstream?.close();
    temp?.cleanup();
  });

  const issue = async (...options: string[]) => json<{ token: string }>(await runCli(['token', 'issue', 'b@example.com', ...options, '--json'], env));
  const v1 = () => `${server.url}/v1`;
  // The CLI issues tokens in another process; soakp learns their origins when it notices the change
  // (it polls the database): a page may call once soakp answers that origin's preflight.
  const preflightOpens = (origin: string) =>
    expect.poll(async () => (await fetch(`${v1()}/chat/completions`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } })).status, { timeout: 5_000 }).toBe(204);

  it('streams a chat completion into the page delta by delta; soakp answers the preflight', async () => {
    const { token } = await issue('--origins', app.origin);
    await preflightOpens(app.origin);
    const gate = new Gate();
    upstream.controls.sseGate = gate; // the fake sends the first delta, then holds the rest
    const before = upstream.requests.length;
    const tab = await openPage(browser, app.url);
    try {
      await startStream(tab.page, { baseURL: v1(), apiKey: token });
      await shows(tab.page, SSE_EVENTS[0] as string); // rendered while the upstream still holds the rest
      gate.open();
      expect(await streamOutcome(tab.page)).toEqual({ ok: true, content: SSE_EVENTS.join('') });
      await shows(tab.page, SSE_EVENTS.join(''));
      // The SDK's authorization and JSON content type make the browser preflight: soakp answered it.
      expect(upstream.requests.slice(before).map((r) => r.method)).toEqual(['POST']);
      expect(upstream.requests.filter((r) => r.method === 'OPTIONS')).toEqual([]);
      expect(corsMessages(tab)).toEqual([]);
    } finally {
      upstream.controls.sseGate = undefined;
      gate.open();
      await tab.close();
    }
  });

  it('fails for the same page from an origin no token names: a CORS error, nothing upstream', async () => {
    const { token } = await issue('--origins', app.origin);
    const before = upstream.requests.length;
    const tab = await openPage(browser, stranger.url);
    try {
      const outcome = await streamChat(tab.page, { baseURL: v1(), apiKey: token });
      expect(outcome).toMatchObject({ ok: false, name: 'APIConnectionError' });
      // Chromium logs the refused preflight to the console on its own schedule: wait for it.
      await expect.poll(() => corsMessages(tab).some((m) => m.includes('blocked by CORS policy')), { timeout: 5_000 }).toBe(true);
      expect(upstream.requests.length).toBe(before);
    } finally {
      await tab.close();
    }
  });

  it('serves a page an ephemeral token the app backend minted, until it expires (401 token_expired)', async () => {
    const { token: mint } = await issue('--mint', '--origins', minted.origin);
    await preflightOpens(minted.origin); // a minting token's origins open CORS for its ephemeral tokens
    const tab = await openPage(browser, minted.url); // opened first: the 2 s lifetime is for the calls
    try {
      // The app's backend (this test, in Node) mints a short-lived token and hands it to the page.
      const res = await fetch(`${server.url}/api/tokens/ephemeral`, { method: 'POST', headers: { authorization: `Bearer ${mint}`, 'content-type': 'application/json' }, body: JSON.stringify({ ttl: '2s' }) });
      expect(res.status).toBe(201);
      const { token, expiresAt } = (await res.json()) as { token: string; expiresAt: string };
      const expiry = Date.parse(expiresAt);
      expect(expiry - Date.now()).toBeGreaterThan(0);
      expect(expiry - Date.now()).toBeLessThanOrEqual(2_000);
      expect(await chat(tab.page, { baseURL: v1(), apiKey: token })).toEqual({ ok: true, content: 'echo: hi' });
      // Expiry is a property of the clock: wait until expiresAt has passed (at most 2 s, bounded above).
      await delay(Math.max(0, expiry - Date.now()) + 1);
      // The 401 carries CORS headers, so the SDK reads its body: an AuthenticationError, not a connection error.
      expect(await chat(tab.page, { baseURL: v1(), apiKey: token })).toMatchObject({ ok: false, name: 'AuthenticationError', status: 401, code: 'token_expired' });
      expect(corsMessages(tab)).toEqual([]);
    } finally {
      await tab.close();
    }
  });
});
