import { describe, expect, it } from 'vitest';
import { SoakpError } from '../shared/errors.js';
import { upstreamPathOf } from './path.js';

function codeOf(url: string): string {
  try {
    upstreamPathOf(url);
  } catch (err) {
    expect(err).toBeInstanceOf(SoakpError);
    return (err as SoakpError).code;
  }
  throw new Error(`expected ${JSON.stringify(url)} to be refused`);
}

describe('upstreamPathOf', () => {
  it.each([
    ['/v1/chat/completions?x=1&y=%20', '/chat/completions?x=1&y=%20'],
    ['/v1/chat/completions', '/chat/completions'],
    ['/v1/models/gpt-4o', '/models/gpt-4o'],
    ['/v1/files/file-abc/content', '/files/file-abc/content'],
    ['/v1/models/ft%3Agpt-4o%3Aorg', '/models/ft%3Agpt-4o%3Aorg'],
    ['/v1', ''],
    ['/v1?x', '?x'],
    ['/v1?', '?'],
    ['/v1/', '/'],
    ['/v1/a.b/..c/...', '/a.b/..c/...'],
    // The query string is kept byte for byte, even what the path may not contain.
    ['/v1/x?p=../..&q=%2F&r=%5c&s=%zz&t=\\', '/x?p=../..&q=%2F&r=%5c&s=%zz&t=\\'],
    ['/v1/x?a=1?b=2', '/x?a=1?b=2'],
    // One canonical spelling, judged and forwarded alike.
    ['/v1/%63hat/completions', '/chat/completions'],
    ['/v1/%63%68%61%74/%63ompletions?x=%63', '/chat/completions?x=%63'],
    ['/v1//chat/completions', '/chat/completions'],
    ['/v1/chat///completions//', '/chat/completions/'],
    ['/v1//', '/'],
    ['/v1/models/ft%3agpt-4o', '/models/ft%3Agpt-4o'],
    ['/v1/a%2Db%5F%7E%2e', '/a-b_~.'],
    ['/v1/files/%E2%82%AC', '/files/%E2%82%AC'],
    ['/v1/CHAT/completions', '/CHAT/completions'],
  ])('maps %j to %j', (url, expected) => {
    expect(upstreamPathOf(url)).toBe(expected);
  });

  it.each([
    ['/v1/../admin'],
    ['/v1/..'],
    ['/v1/.'],
    ['/v1/./models'],
    ['/v1/a/../../b'],
    ['/v1/..?x=1'],
    ['/v1/%2e%2e/x'],
    ['/v1/%2E%2E/x'],
    ['/v1/.%2e/x'],
    ['/v1/%2e./x'],
    ['/v1/%2e/x'],
    ['/v1/a/%2F/b'],
    ['/v1/a%2fb'],
    ['/v1/a%5cb'],
    ['/v1/a%5Cb'],
    ['/v1/a\\b'],
    ['/v1/..\\admin'],
    ['/v1/%00'],
    ['/v1/a%00b'],
    ['/v1/a%0d%0aHost:%20evil'],
    ['/v1/a%09'],
    ['/v1/a%1f'],
    ['/v1/%'],
    ['/v1/%zz'],
    ['/v1/%2'],
    ['/v1/%e0%a4%a'],
    ['/v1/%ff'],
    ['/v1/%7f'],
    ['/v1/embeddings#x'],
    ['/v1/responses#'],
    ['/v1/chat/completions?x=1#frag'],
    ['/v1/a b'],
    ['/v1/a"b'],
    ['/v1/a<b>'],
    ['/v1/a{b}'],
    ['/v1/a|b'],
    ['/v1/a^b'],
    ['/v1/a`b'],
    ['/v1/caf\u00e9'],
    ['/v1//%2e%2e//x'],
    ['/v1/%2E/x'],
    ['/v1/%c0%ae%c0%ae/x'],
  ])('refuses %j as invalid_request', (url) => {
    expect(codeOf(url)).toBe('invalid_request');
  });

  it.each([
    ['/'],
    [''],
    ['/v2/chat/completions'],
    ['/v10/models'],
    ['/v1x'],
    ['/v1.0/models'],
    ['/v1%2fmodels'],
    ['/v1@evil.example/x'],
    ['/v1#x'],
    ['/V1/models'],
    ['/api/keys'],
    ['/admin'],
    ['//v1/models'],
    ['/./v1/models'],
    ['v1/models'],
    ['http://evil.example/v1/models'],
    ['/healthz'],
    ['/v1\\..\\admin'],
  ])('refuses %j as not_found', (url) => {
    expect(codeOf(url)).toBe('not_found');
  });
});
