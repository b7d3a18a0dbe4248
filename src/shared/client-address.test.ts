import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { TrustedProxies, addressBucket, parseCidr } from './client-address.js';

const request = (peer: string, headers: Record<string, string> = {}, encrypted = false) =>
  ({ socket: { remoteAddress: peer, encrypted }, headers }) as unknown as IncomingMessage;

const proxies = new TrustedProxies(['127.0.0.1/32', '10.0.0.0/8', 'fd00::/8']);

describe('parseCidr', () => {
  it('reads addresses and ranges of both families, and refuses the rest', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, type: 'ipv4' });
    expect(parseCidr('192.0.2.1')).toEqual({ address: '192.0.2.1', prefix: 32, type: 'ipv4' });
    expect(parseCidr(' ::1 ')).toEqual({ address: '::1', prefix: 128, type: 'ipv6' });
    expect(parseCidr('fd00::/8')).toEqual({ address: 'fd00::', prefix: 8, type: 'ipv6' });
    for (const bad of ['', '10.0.0.0/33', '::/129', 'localhost', '10.0.0/8', '1.2.3.4/', '*']) expect(parseCidr(bad), bad).toBeUndefined();
  });
});

describe('TrustedProxies', () => {
  it('trusts only the configured ranges, IPv4-mapped IPv6 included', () => {
    expect(proxies.trusts('127.0.0.1')).toBe(true);
    expect(proxies.trusts('::ffff:10.1.2.3')).toBe(true);
    expect(proxies.trusts('fd12::1')).toBe(true);
    expect(proxies.trusts('127.0.0.2')).toBe(false);
    expect(proxies.trusts('garbage')).toBe(false);
    expect(new TrustedProxies([]).trusts('127.0.0.1')).toBe(false);
  });

  it('ignores forwarding headers from a peer that is not trusted', () => {
    const req = request('::ffff:198.51.100.1', { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=203.0.113.9;proto=https', 'x-forwarded-proto': 'https' });
    expect(proxies.clientOf(req)).toEqual({ address: '198.51.100.1', secure: false });
    expect(new TrustedProxies([]).clientOf(request('127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }))).toEqual({ address: '127.0.0.1', secure: false });
  });

  it('takes the rightmost untrusted hop of X-Forwarded-For, with its X-Forwarded-Proto', () => {
    // The client wrote 6.6.6.6 itself; the trusted 10.0.0.5 appended the address it saw.
    expect(proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.0.0.5', 'x-forwarded-proto': 'https' }))).toEqual({ address: '203.0.113.9', secure: true });
    expect(proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': '203.0.113.9, 10.0.0.5', 'x-forwarded-proto': 'https, http' }))).toEqual({ address: '203.0.113.9', secure: true });
    expect(proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': '203.0.113.9:4711' }))).toEqual({ address: '203.0.113.9', secure: false });
    expect(proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': '[2001:db8::7]:443', 'x-forwarded-proto': 'HTTPS' }))).toEqual({ address: '2001:db8::7', secure: true });
  });

  it('reads RFC 7239 Forwarded, quoted IPv6 and per-element proto included', () => {
    expect(proxies.clientOf(request('127.0.0.1', { forwarded: 'for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.5;proto=http' }))).toEqual({ address: '2001:db8:cafe::17', secure: true });
    expect(proxies.clientOf(request('127.0.0.1', { forwarded: 'For=192.0.2.60;Proto=http;by=203.0.113.43' }))).toEqual({ address: '192.0.2.60', secure: false });
  });

  it('walks at most 16 hops, however many trusted-looking addresses a client pads the header with', () => {
    const padding = Array.from({ length: 2000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`).join(', ');
    const client = proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': `203.0.113.9, ${padding}` }));
    expect(client.address).toBe('10.0.7.192'); // the 16th hop from the right: a proxy, never the padded-away client
    const short = Array.from({ length: 15 }, (_, i) => `10.0.0.${i + 1}`).join(', ');
    expect(proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': `203.0.113.9, ${short}` })).address).toBe('203.0.113.9');
  });

  it('stops at an unknown or obfuscated hop: the proxy that wrote it is all that is known', () => {
    expect(proxies.clientOf(request('127.0.0.1', { forwarded: 'for=unknown' }))).toEqual({ address: '127.0.0.1', secure: false });
    expect(proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': '203.0.113.9, _hidden, 10.0.0.5' }))).toEqual({ address: '10.0.0.5', secure: false });
  });

  it('keeps the socket when every hop is trusted or the headers are empty, and the proxy when the two headers disagree', () => {
    expect(proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': '10.0.0.7, 10.0.0.5' }))).toEqual({ address: '10.0.0.7', secure: false });
    expect(proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': ' ' }, true))).toEqual({ address: '127.0.0.1', secure: true });
    // Without X-Forwarded-Proto, the scheme stays that of the connection soakp received.
    expect(proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }, true))).toEqual({ address: '203.0.113.9', secure: true });
    expect(proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=203.0.113.9' }))).toEqual({ address: '203.0.113.9', secure: false });
    expect(proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=6.6.6.6' }))).toEqual({ address: '127.0.0.1', secure: false });
    // A Forwarded header naming no client at all does not count as disagreeing.
    expect(proxies.clientOf(request('127.0.0.1', { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https', forwarded: 'proto=https;host=soakp.example' }))).toEqual({ address: '203.0.113.9', secure: true });
  });
});

describe('addressBucket', () => {
  it('counts IPv4 whole and IPv6 by its /64', () => {
    expect(addressBucket('203.0.113.7')).toBe('203.0.113.7');
    expect(addressBucket('::ffff:203.0.113.7')).toBe('::ffff:203.0.113.7');
    expect(addressBucket('2001:db8:aa:bb:1:2:3:4')).toBe('2001:db8:aa:bb::/64');
    expect(addressBucket('2001:0DB8:00aa:00bb:ffff::1')).toBe('2001:db8:aa:bb::/64');
    expect(addressBucket('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressBucket('::1')).toBe('0:0:0:0::/64');
    expect(addressBucket('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressBucket(null)).toBe('unknown');
  });
});
