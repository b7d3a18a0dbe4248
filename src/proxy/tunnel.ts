import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SoakpError } from '../shared/index.js';
import { type Admitted, NO_USAGE } from './admission.js';
import { upstreamRequestHeaders } from './headers.js';

/** A WebSocket upgrade's client side; `status` is set as the upstream answers (for the access line). */
export interface Upgrade {
  readonly socket: Duplex;
  /** What came after the upgrade request's head. */
  readonly head: Buffer;
  /** The subprotocols to offer upstream (the key's taken out). */
  readonly protocols: string[];
  status: number;
}

/**
 * A realtime session's forward stage: the upgrade goes to the upstream with the key swapped
 * in, then the two sockets are joined byte for byte. An answer other than 101 (the upstream's
 * refusal) passes through as it came. The session holds its ticket (a concurrency slot) until
 * the client's socket closes; its frames are not metered.
 */
export function tunnel(a: Admitted, pathAndQuery: string, client: Upgrade, connectTimeoutMs: number, fail: (err: unknown) => void): void {
  const { socket, head, protocols } = client;
  const { upstream, key } = a.principal;
  const started = Date.now();
  client.status = 499;
  socket.once('close', () => a.finish(NO_USAGE, { status: client.status, durationMs: Date.now() - started, bytesIn: (socket as Socket).bytesRead ?? 0, bytesOut: (socket as Socket).bytesWritten ?? 0 }));
  const base = new URL(upstream.baseUrl);
  const outgoing = upstreamRequestHeaders(a.headers, upstream, key);
  Object.assign(outgoing, { connection: 'Upgrade', upgrade: 'websocket' });
  if (protocols.length > 0) outgoing['sec-websocket-protocol'] = protocols.join(', ');
  const send = base.protocol === 'https:' ? httpsRequest : httpRequest;
  const upstreamReq = send({ host: base.hostname, port: base.port, path: `${base.pathname.replace(/\/$/, '')}${pathAndQuery}`, method: 'GET', headers: outgoing, timeout: connectTimeoutMs });
  socket.once('close', () => upstreamReq.destroy()); // the caller left before the upstream answered
  upstreamReq.once('timeout', () => upstreamReq.destroy(new SoakpError('upstream_timeout', `The upstream "${upstream.name}" did not answer in time.`)));
  upstreamReq.once('error', (err) => {
    client.status = 502;
    fail(err instanceof SoakpError ? err : new SoakpError('upstream_unreachable', `The upstream "${upstream.name}" could not be reached.`, { cause: err }));
  });
  upstreamReq.once('response', (res) => {
    // Not upgraded: relay the upstream's answer (its refusal) and close.
    client.status = res.statusCode ?? 502;
    socket.write(`HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n${rawHeaders(res.rawHeaders, ['connection', 'transfer-encoding', 'set-cookie', 'strict-transport-security'])}connection: close\r\n\r\n`);
    res.pipe(socket);
  });
  upstreamReq.once('upgrade', (res, upstreamSocket, upstreamHead) => {
    client.status = 101;
    upstreamReq.setTimeout(0);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\n${rawHeaders(res.rawHeaders, ['set-cookie', 'strict-transport-security'])}\r\n`);
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (head.length > 0) upstreamSocket.write(head);
    upstreamSocket.pipe(socket).pipe(upstreamSocket);
    const close = (): void => {
      upstreamSocket.destroy();
      socket.destroy();
    };
    upstreamSocket.once('close', close).once('error', close);
    socket.once('close', close).once('error', close);
  });
  upstreamReq.end();
}

/** The upstream's headers less `drop` and its CORS headers (soakp answers browsers itself). */
function rawHeaders(raw: string[], drop: string[]): string {
  let out = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (!drop.includes(name) && !name.startsWith('access-control-')) out += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return out;
}
