import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SoakpError } from '../../shared/index.js';
import { Http01Solver } from './http01.js';
import { obtainCertificate } from './obtain.js';
import type { ObtainOptions } from './options.js';

describe('obtainCertificate refuses bad options before any network call', () => {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  let directoryUrl: string;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    directoryUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}/dir`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const refused = async (options: Partial<ObtainOptions>, message: RegExp): Promise<void> => {
    const all = { directoryUrl, domains: ['a.example.com'], challenge: 'http-01', http01: new Http01Solver(), ...options } as ObtainOptions;
    await expect(obtainCertificate(all)).rejects.toMatchObject({ name: 'SoakpError', code: 'invalid_config', message: expect.stringMatching(message) });
  };

  it('a wildcard with http-01', async () => {
    await refused({ domains: ['example.com', '*.example.com'] }, /\*\.example\.com: a wildcard name can only be validated with dns-01, not http-01/);
  });

  it('an unknown challenge, a missing solver or provider, a bad name, plain http, half an EAB, a CA that is no certificate', async () => {
    await refused({ challenge: 'tls-alpn-01' as never }, /unknown ACME challenge "tls-alpn-01"/);
    await refused({ http01: undefined }, /http-01 needs the HTTP-01 solver/);
    await refused({ challenge: 'dns-01' }, /dns-01 needs a DNS provider/);
    await refused({ domains: [] }, /no domain names/);
    await refused({ domains: ['bad_name.example.com', 'localhost'] }, /"bad_name\.example\.com" is not a DNS name; "localhost" is not a DNS name/);
    await refused({ directoryUrl: 'http://127.0.0.1:1/dir' }, /must be https/);
    await refused({ externalAccountBinding: { kid: 'kid', hmacKey: '' } }, /External Account Binding needs both/);
    await refused({ caPem: 'not a certificate' }, /CA file is not a PEM certificate/);
    expect(connections).toBe(0);
  });

  it('a DNS provider whose check() fails (no credentials) stops the order before it starts', async () => {
    const calls: string[] = [];
    const dns = {
      name: 'fake',
      check: async () => {
        calls.push('check');
        throw new SoakpError('invalid_config', 'ACME DNS provider fake needs credentials');
      },
      present: async () => void calls.push('present'),
      cleanup: async () => void calls.push('cleanup'),
    };
    await refused({ challenge: 'dns-01', http01: undefined, dns }, /fake needs credentials/);
    expect(calls).toEqual(['check']);
    expect(connections).toBe(0);
  });
});

describe('Http01Solver', () => {
  const serve = async (solver: Http01Solver, path: string, method = 'GET'): Promise<{ handled: boolean; status?: number; body?: string }> => {
    const { createServer: http } = await import('node:http');
    let handled = false;
    const server = http((req, res) => {
      handled = solver.handle(req, res);
      if (!handled) res.writeHead(418).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`, { method });
      return { handled, status: res.status, body: await res.text() };
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  };

  it('answers a pending token with its key authorization, 404 otherwise, and leaves other paths alone', async () => {
    const solver = new Http01Solver();
    solver.add('tok-EN_1', 'tok-EN_1.thumbprint');
    expect(await serve(solver, '/.well-known/acme-challenge/tok-EN_1')).toEqual({ handled: true, status: 200, body: 'tok-EN_1.thumbprint' });
    expect(await serve(solver, '/.well-known/acme-challenge/other')).toMatchObject({ handled: true, status: 404 });
    expect(await serve(solver, '/.well-known/acme-challenge/a%2F..%2Fb')).toMatchObject({ status: 404 });
    expect(await serve(solver, '/v1/models')).toMatchObject({ handled: false, status: 418 });
    expect(Http01Solver.matches('/.well-known/acme-challenge/x')).toBe(true);
    expect(Http01Solver.matches('/health')).toBe(false);
    solver.remove('tok-EN_1');
    expect(solver.size).toBe(0);
    expect(await serve(solver, '/.well-known/acme-challenge/tok-EN_1')).toMatchObject({ status: 404 });
    await expect(solver.add('../etc', 'x')).rejects.toThrow(/base64url/);
  });
});
