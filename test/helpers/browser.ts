import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { type ServerResponse, createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { SERVICES_REQUIRED } from './services.js';

/** Debian's chromium: playwright-core downloads no browser, the apt package is the browser. */
export const CHROMIUM = '/usr/bin/chromium';

/** The installed openai SDK's directory: its ESM build (index.mjs) imports only relative files. */
const OPENAI_DIR = dirname(createRequire(import.meta.url).resolve('openai'));
const TYPES: Record<string, string> = { '.mjs': 'text/javascript; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

/** True when Debian's chromium is installed; prints why a suite skips when it is not (CI fails instead). */
export function chromiumAvailable(suite: string): boolean {
  const found = existsSync(CHROMIUM);
  if (!found && !SERVICES_REQUIRED) {
    console.warn(`chromium is not installed (apt-get install -y chromium): skipping "${suite}" (set SOAKP_TEST_REQUIRE_SERVICES=1 to fail instead).`);
  }
  return found || SERVICES_REQUIRED;
}

/** Headless chromium; --no-sandbox because CI runs as root in a container, where the sandbox cannot start. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30_000 });
}

export interface PageServer {
  /** The page's origin, e.g. http://127.0.0.1:1234: what a token's --origins names. */
  readonly origin: string;
  /** The page's URL (the origin's `/`). */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `html` at `/` and the openai SDK's files under `/openai/` on 127.0.0.1 (nothing from a CDN). */
export async function startPageServer(html: string): Promise<PageServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://page').pathname;
    if (path === '/') return send(res, 200, 'text/html; charset=utf-8', html);
    const file = normalize(join(OPENAI_DIR, decodeURIComponent(path.slice('/openai/'.length))));
    const type = TYPES[extname(file)];
    // Only the SDK's own script files: no way out of its directory.
    if (!path.startsWith('/openai/') || !file.startsWith(OPENAI_DIR + sep) || !type) return send(res, 404, 'text/plain', 'not found');
    readFile(file).then((body) => send(res, 200, type, body), () => send(res, 404, 'text/plain', 'not found'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    url: `${origin}/`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

export interface OpenedPage {
  readonly page: Page;
  /** Everything the page's console showed (chromium's own network and CORS errors included) and its uncaught errors. */
  readonly console: string[];
  close(): Promise<void>;
}

/**
 * Opens `url` in a fresh browser context (its own preflight cache) and waits until the page's
 * module script says it is ready (`globalThis.pageReady`), i.e. the SDK loaded.
 */
export async function openPage(browser: Browser, url: string): Promise<OpenedPage> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const messages: string[] = [];
  page.on('console', (m) => messages.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => messages.push(`pageerror: ${e.message}`));
  try {
    await page.goto(url, { timeout: 10_000 });
    await page.waitForFunction(() => (globalThis as { pageReady?: boolean }).pageReady === true, undefined, { timeout: 10_000 });
  } catch (err) {
    await context.close();
    throw new Error(`the page at ${url} did not load: ${(err as Error).message}\nconsole:\n${messages.join('\n')}`);
  }
  return { page, console: messages, close: () => context.close() };
}
