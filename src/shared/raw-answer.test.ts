import { describe, expect, it } from 'vitest';
import { SoakpError, errorAnswer, rawErrorAnswer } from './errors.js';

describe('rawErrorAnswer', () => {
  it('writes a whole HTTP/1.1 answer in OpenAI’s envelope, with the error’s own headers, closing the connection', () => {
    const text = rawErrorAnswer(new SoakpError('rate_limited', 'Slow down.', { headers: { 'retry-after': '3' } }));
    const [head, body] = text.split('\r\n\r\n') as [string, string];
    expect(head.split('\r\n')).toEqual(['HTTP/1.1 429 Too Many Requests', 'retry-after: 3', 'content-type: application/json; charset=utf-8', `content-length: ${Buffer.byteLength(body)}`, 'connection: close']);
    expect(JSON.parse(body)).toEqual({ error: { message: 'Slow down.', type: 'rate_limit_error', code: 'rate_limited', param: null } });
  });

  it('never shows what an unknown error says', () => {
    const text = rawErrorAnswer(new Error('secret detail'));
    expect(text.startsWith('HTTP/1.1 500 Internal Server Error\r\n')).toBe(true);
    expect(text).not.toContain('secret detail');
  });

  it('adds the entry’s headers, but never lets them change the content type or length', () => {
    const a = errorAnswer(new SoakpError('not_found', 'Nope, ünknown.'), { 'x-request-id': 'r1', 'content-length': '1' });
    expect(a.headers).toEqual({ 'x-request-id': 'r1', 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(a.text)) });
    expect(a.status).toBe(404);
  });
});
