import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { AuthStyle } from '../config/schema.js';
import type { Upstream } from '../config/upstreams.js';
import { Secret } from '../shared/secret.js';
import { answerHead, downstreamResponseHeaders, upstreamRequestHeaders } from './headers.js';

const REAL_KEY = 'sk-upstream-REALkey0123456789';
const CALLER = 'sk-soakp-CALLERtoken0123456789';

function upstream(auth: AuthStyle = 'bearer', headers: Record<string, string> = {}): Upstream {
  return { name: 'test', baseUrl: 'https://upstream.example/v1', auth, headers };
}

const key = () => new Secret(REAL_KEY);

/** Every header the caller is allowed to pass on. */
const KEPT: IncomingHttpHeaders = {
  'content-type': 'application/json',
  'content-length': '42',
  'openai-beta': 'assistants=v2',
  'user-agent': 'OpenAI/Python 1.40.0',
  accept: 'text/event-stream',
  'x-stainless-lang': 'python',
  'idempotency-key': 'abc',
};

/** Every header that must never reach the upstream, in the spellings clients send. */
const REMOVED: IncomingHttpHeaders = {
  authorization: `Bearer ${CALLER}`,
  'api-key': CALLER,
  'x-api-key': CALLER,
  cookie: 'session=abc',
  'x-openwebui-user-email': 'alice@example.com',
  'x-openwebui-user-name': 'Alice',
  'x-openwebui-user-id': 'u1',
  'x-openwebui-user-role': 'admin',
  'x-openwebui-user-jwt': 'eyJ.x.y',
  'x-openwebui-chat-id': 'c1',
  x_openwebui_user_email: 'mallory@example.com',
  'x_openwebui-user-role': 'admin',
  'x-openwebui_user_id': 'u2',
  'x-forwarded-for': '10.0.0.1',
  'x-forwarded-host': 'internal.example',
  'x-forwarded-proto': 'http',
  x_forwarded_for: '10.0.0.2',
  forwarded: 'for=10.0.0.1',
  'x-real-ip': '10.0.0.1',
  via: '1.1 lb',
  connection: 'keep-alive',
  'keep-alive': 'timeout=5',
  te: 'trailers',
  trailer: 'x-checksum',
  'transfer-encoding': 'chunked',
  upgrade: 'websocket',
  'proxy-authorization': `Basic ${CALLER}`,
  'proxy-connection': 'keep-alive',
  host: 'soakp.local:3000',
};

/** Headers that choose what the operator's key bills: dropped unless the upstream allows them. */
const ORGANIZATION: IncomingHttpHeaders = { 'openai-organization': 'org-other', 'openai-project': 'proj_other', openai_project: 'proj_x' };

/** Underscore spellings of the credential and forwarding headers, which CGI/WSGI-style servers fold into the hyphenated ones. */
const REMOVED_UNDERSCORE: IncomingHttpHeaders = {
  api_key: CALLER,
  x_api_key: CALLER,
  'x-api_key': CALLER,
  x_real_ip: '10.0.0.9',
  proxy_authorization: `Basic ${CALLER}`,
};

describe('upstreamRequestHeaders', () => {
  it('asks the upstream for an uncompressed answer, so its usage can be read', () => {
    const out = upstreamRequestHeaders({ 'accept-encoding': 'gzip, br' }, upstream(), key());
    expect(out['accept-encoding']).toBe('identity');
  });

  it('keeps ordinary request headers unchanged', () => {
    const out = upstreamRequestHeaders({ ...KEPT }, upstream(), key());
    for (const [name, value] of Object.entries(KEPT)) expect(out[name]).toEqual(value);
  });

  it('removes credential, identity, forwarding and hop-by-hop headers', () => {
    const out = upstreamRequestHeaders({ ...KEPT, ...REMOVED }, upstream('x-api-key'), key());
    for (const name of Object.keys(REMOVED)) {
      if (name !== 'x-api-key') expect(out, name).not.toHaveProperty(name);
    }
    expect(out['x-api-key']).toBe(REAL_KEY);
    expect(Object.keys(out).sort()).toEqual([...Object.keys(KEPT), 'accept-encoding', 'x-api-key'].sort());
    expect(JSON.stringify(out)).not.toContain('CALLER');
    expect(JSON.stringify(out)).not.toContain('mallory');
  });

  it('drops the organisation and project headers unless the upstream allows them, and never lets them replace its own', () => {
    const dropped = upstreamRequestHeaders({ ...KEPT, ...ORGANIZATION }, upstream(), key());
    for (const name of Object.keys(ORGANIZATION)) expect(dropped, name).not.toHaveProperty(name);
    const allowed = upstreamRequestHeaders({ ...KEPT, ...ORGANIZATION }, { ...upstream(), forwardOrganization: true }, key());
    for (const [name, value] of Object.entries(ORGANIZATION)) expect(allowed[name], name).toBe(value);
    const own = upstreamRequestHeaders({ ...ORGANIZATION }, upstream('bearer', { 'OpenAI-Organization': 'org-operator' }), key());
    expect(own['openai-organization']).toBe('org-operator');
  });

  it('removes underscore spellings of credential and forwarding headers', () => {
    const out = upstreamRequestHeaders({ ...KEPT, ...REMOVED_UNDERSCORE }, upstream('api-key'), key());
    for (const name of Object.keys(REMOVED_UNDERSCORE)) expect(out, name).not.toHaveProperty(name);
    expect(JSON.stringify(out)).not.toContain('CALLER');
  });

  it('removes every x-openwebui-* header, whatever follows the prefix', () => {
    const out = upstreamRequestHeaders(
      { 'x-openwebui-anything-new': '1', x_openwebui_x: '2', 'x-openwebui-': '3', 'content-type': 'text/plain' },
      upstream(),
      key(),
    );
    expect(Object.keys(out).sort()).toEqual(['accept-encoding', 'authorization', 'content-type']);
  });

  it('removes headers named in Connection:, in any case and spacing', () => {
    const out = upstreamRequestHeaders(
      { ...KEPT, connection: 'close, x-secret-hop ,X-Other-Hop', 'x-secret-hop': 's1', 'x-other-hop': 's2' },
      upstream(),
      key(),
    );
    expect(out).not.toHaveProperty('connection');
    expect(out).not.toHaveProperty('x-secret-hop');
    expect(out).not.toHaveProperty('x-other-hop');
    expect(out['content-type']).toBe('application/json');
  });

  it('removes headers named in a repeated Connection header', () => {
    const headers = { connection: ['close', 'x-a'], 'x-a': '1', 'x-b': '2' } as unknown as IncomingHttpHeaders;
    const out = upstreamRequestHeaders(headers, upstream(), key());
    expect(out).not.toHaveProperty('x-a');
    expect(out['x-b']).toBe('2');
  });

  it('sets Authorization: Bearer <key> for a bearer upstream, replacing the caller’s', () => {
    const out = upstreamRequestHeaders({ ...REMOVED }, upstream('bearer'), key());
    expect(out.authorization).toBe(`Bearer ${REAL_KEY}`);
    expect(out).not.toHaveProperty('api-key');
    expect(out).not.toHaveProperty('x-api-key');
  });

  it('sets api-key for an api-key upstream; the caller’s api-key never survives', () => {
    const out = upstreamRequestHeaders({ 'api-key': CALLER, authorization: `Bearer ${CALLER}` }, upstream('api-key'), key());
    expect(out['api-key']).toBe(REAL_KEY);
    expect(out).not.toHaveProperty('authorization');
    expect(out).not.toHaveProperty('x-api-key');
  });

  it('sets x-api-key for an x-api-key upstream; the caller’s x-api-key never survives', () => {
    const out = upstreamRequestHeaders({ 'x-api-key': CALLER, authorization: `Bearer ${CALLER}` }, upstream('x-api-key'), key());
    expect(out['x-api-key']).toBe(REAL_KEY);
    expect(out).not.toHaveProperty('authorization');
    expect(out).not.toHaveProperty('api-key');
  });

  it('sets the key even when the caller hides its own credential behind Connection:', () => {
    const out = upstreamRequestHeaders({ connection: 'api-key', 'api-key': CALLER }, upstream('api-key'), key());
    expect(out['api-key']).toBe(REAL_KEY);
  });

  it('adds the upstream’s extra headers (lower-cased), overriding the caller’s', () => {
    const out = upstreamRequestHeaders(
      { ...KEPT, 'x-title': 'caller' },
      upstream('bearer', { 'HTTP-Referer': 'https://intranet.example', 'X-Title': 'soakp' }),
      key(),
    );
    expect(out['http-referer']).toBe('https://intranet.example');
    expect(out['x-title']).toBe('soakp');
    expect(out).not.toHaveProperty('X-Title');
  });

  it('puts the key after the extra headers, so no configured header replaces it', () => {
    const out = upstreamRequestHeaders({}, upstream('bearer', { Authorization: 'Bearer other' }), key());
    expect(out.authorization).toBe(`Bearer ${REAL_KEY}`);
  });

  it('does not modify the incoming headers', () => {
    const incoming: IncomingHttpHeaders = { ...KEPT, ...REMOVED };
    const before = JSON.stringify(incoming);
    upstreamRequestHeaders(incoming, upstream(), key());
    expect(JSON.stringify(incoming)).toBe(before);
  });
});

describe('downstreamResponseHeaders', () => {
  const RESPONSE = {
    'content-type': 'text/event-stream',
    'x-request-id': 'req_123',
    'openai-processing-ms': '345',
    'openai-model': 'gpt-4o',
    'x-ratelimit-remaining-requests': '99',
    'cache-control': 'no-cache',
    'content-encoding': 'gzip',
    'content-length': '100',
  };

  it('keeps ordinary response headers', () => {
    expect(downstreamResponseHeaders({ ...RESPONSE })).toEqual(RESPONSE);
  });

  it('drops set-cookie, the upstream’s HSTS and hop-by-hop headers', () => {
    const out = downstreamResponseHeaders({
      ...RESPONSE,
      'set-cookie': ['__cf_bm=abc; path=/', 'other=1'],
      'strict-transport-security': 'max-age=31536000; includeSubDomains; preload',
      connection: 'keep-alive, x-hop',
      'x-hop': '1',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      trailer: 'x-checksum',
      upgrade: 'h2c',
      'proxy-authenticate': 'Basic',
      te: 'trailers',
    });
    expect(out).toEqual(RESPONSE);
  });

  it('skips undefined values', () => {
    expect(downstreamResponseHeaders({ 'x-request-id': 'r', 'x-empty': undefined })).toEqual({ 'x-request-id': 'r' });
  });

  it('drops the upstream\'s CORS headers (soakp answers browsers itself) and adds Origin to its Vary', () => {
    const raw = [
      ['content-type', 'application/json'], ['access-control-allow-origin', '*'], ['access-control-allow-credentials', 'true'],
      ['access-control-expose-headers', '*'], ['vary', 'Accept-Encoding'],
    ].flat().map((x) => Buffer.from(x, 'latin1'));
    const head = answerHead(raw, {}, { vary: 'Origin', 'access-control-allow-origin': 'https://app.example.com' }, false);
    expect(head.list).toEqual(['content-type', 'application/json', 'vary', 'Accept-Encoding, Origin', 'access-control-allow-origin', 'https://app.example.com']);
    const bare = answerHead([Buffer.from('content-type'), Buffer.from('text/plain')], {}, { vary: 'Origin' }, false);
    expect(bare.list).toEqual(['content-type', 'text/plain', 'vary', 'Origin']);
  });
});
