import { type Server, createServer } from 'node:http';
import { isIP } from 'node:net';
import type { Config } from '../config/index.js';
import { type Logger, SoakpError, type TrustedProxies, errorAnswer } from '../shared/index.js';
import type { TlsServing } from '../tls/index.js';
import { capConnections } from './connections.js';

// RFC 9110 §7.2: a host name or address, with an optional port; nothing else is echoed into a Location.
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})(:\d{1,5})?$/;

/**
 * The plain-HTTP listener beside HTTPS (`httpPort`): it answers ACME HTTP-01 challenges and
 * sends browsers to HTTPS (308), with ACME only for the certificate's names. API paths are
 * refused instead of redirected: a caller that sent its token in clear text must fix its URL,
 * not have every request quietly retried.
 */
export function createPlainHttpServer(tls: TlsServing, httpsPort: number, limits: Config['limits'], edge: { proxies: TrustedProxies; logger: Logger }): Server {
  const server = createServer({ headersTimeout: limits.headersTimeout, requestTimeout: limits.requestTimeout, keepAliveTimeout: limits.keepAliveTimeout }, (req, res) => {
    if (tls.source.http01?.handle(req, res) === true) return;
    const host = servedName(hostOf(req.headers.host), tls.source.names);
    const target = host === undefined ? undefined : `https://${host}${httpsPort === 443 ? '' : `:${httpsPort}`}`;
    const path = req.url ?? '/';
    if (target === undefined || path.startsWith('/v1') || path.startsWith('/api') || !path.startsWith('/')) {
      const message = `This port speaks plain HTTP and serves no API: use ${target ?? 'https://<host>'}${path.startsWith('/') ? path.split('?', 1)[0] : '/'} instead.`;
      const a = errorAnswer(new SoakpError('https_required', message));
      res.writeHead(a.status, { ...a.headers, connection: 'close' });
      res.end(a.text);
      return;
    }
    res.writeHead(308, { location: `${target}${path}`, 'content-length': '0', connection: 'close' });
    res.end();
  });
  capConnections(server, limits, edge.proxies, edge.logger);
  return server;
}

/** The Host header's name without its port, when it is one. */
function hostOf(header: string | undefined): string | undefined {
  const match = header === undefined ? null : HOST.exec(header.trim());
  if (match === null) return undefined;
  const name = match[1] as string;
  if (name.startsWith('[') && isIP(name.slice(1, -1)) !== 6) return undefined;
  return name;
}

/** The host when the certificate is for it, or when its names are not known (files, local CA). */
function servedName(host: string | undefined, names: readonly string[] | undefined): string | undefined {
  if (host === undefined || names === undefined) return host;
  const lower = host.toLowerCase();
  return names.some((name) => covers(name, lower)) ? lower : undefined;
}

/** RFC 6125 §6.4.3: `*.example.com` covers exactly one label in front of `example.com`. */
function covers(name: string, host: string): boolean {
  if (!name.startsWith('*.')) return name === host;
  const label = host.slice(0, host.length - name.length + 1);
  return host.endsWith(name.slice(1)) && label !== '' && !label.includes('.');
}
