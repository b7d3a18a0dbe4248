import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';

/** chat-page.html: the openai SDK in a page, as an app would use it. */
export const CHAT_PAGE = readFileSync(new URL('./chat-page.html', import.meta.url), 'utf8');

export interface Call {
  baseURL: string;
  apiKey: string;
}

/** What the page reports of a call: the answer, or the SDK error's class, status and code. */
export interface Outcome {
  ok: boolean;
  content?: string;
  name?: string;
  status?: number;
  code?: string;
  message?: string;
}

/** What chat-page.html puts on globalThis (the functions below are evaluated in the page, not here). */
interface PageApi {
  streamChat(c: Call): Promise<Outcome>;
  chat(c: Call): Promise<Outcome>;
  run?: Promise<Outcome>;
}
type Doc = { document: { getElementById(id: string): { textContent: string | null } | null } };

/** Starts a streamed chat in the page and returns at once: the page renders deltas as they come. */
export async function startStream(page: Page, call: Call): Promise<void> {
  await page.evaluate((c) => {
    const api = globalThis as unknown as PageApi;
    api.run = api.streamChat(c);
  }, call);
}

/** The outcome of the stream `startStream` began, once it ends. */
export function streamOutcome(page: Page): Promise<Outcome> {
  return page.evaluate(() => (globalThis as unknown as PageApi).run as Promise<Outcome>);
}

export function streamChat(page: Page, call: Call): Promise<Outcome> {
  return page.evaluate((c) => (globalThis as unknown as PageApi).streamChat(c), call);
}

export function chat(page: Page, call: Call): Promise<Outcome> {
  return page.evaluate((c) => (globalThis as unknown as PageApi).chat(c), call);
}

/** Waits (bounded) until the page's output element shows exactly `text`. */
export async function shows(page: Page, text: string): Promise<void> {
  await page.waitForFunction((want) => (globalThis as unknown as Doc).document.getElementById('out')?.textContent === want, text, { timeout: 10_000 });
}
