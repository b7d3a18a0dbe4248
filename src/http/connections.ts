import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { type TrustedProxies, peerAddress } from '../shared/index.js';
import type { Logger } from '../shared/index.js';

export interface ConnectionCaps {
  /** Open connections in all. */
  maxConnections: number;
  /** Open connections from one address that is not a trusted proxy. */
  maxConnectionsPerAddress: number;
}

/**
 * Caps open connections, so that clients holding sockets cannot use up the process's file
 * descriptors. A connection over a cap is closed at once, unanswered (it has asked nothing
 * yet); those already open are untouched. Node enforces the total (`maxConnections`); the
 * per-address count is kept here, by socket peer: when the connection opens no request says
 * who is behind it. A trusted proxy's connections carry many clients, so they count only
 * towards the total (the proxy in front is the place to cap each client's connections).
 */
export function capConnections(server: Server, caps: ConnectionCaps, proxies: TrustedProxies, logger?: Logger): void {
  server.maxConnections = caps.maxConnections;
  const refused = refusals(logger);
  server.on('drop', () => refused('maxConnections', null));
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const address = peerAddress(socket);
    if (address === null || proxies.trusts(address)) return;
    const count = open.get(address) ?? 0;
    if (count >= caps.maxConnectionsPerAddress) {
      socket.destroy();
      refused('maxConnectionsPerAddress', address);
      return;
    }
    open.set(address, count + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left === 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

/** Refusals are logged at most once per this many ms, with the counts since the last line: a flood must not flood the log. */
const LOG_EVERY_MS = 10_000;

// A proxy in front that is not listed in trustProxy hits the per-address cap under load: the
// warning says so, since its clients would otherwise only see the proxy's 502s.
function refusals(logger: Logger | undefined): (cap: 'maxConnections' | 'maxConnectionsPerAddress', address: string | null) => void {
  let last = -Infinity;
  const counts = { maxConnections: 0, maxConnectionsPerAddress: 0 };
  return (cap, address) => {
    counts[cap] += 1;
    const now = Date.now();
    if (!logger || now - last < LOG_EVERY_MS) return;
    last = now;
    logger.warn({ refused: { ...counts }, address: address ?? undefined }, 'connections refused over limits.maxConnections or limits.maxConnectionsPerAddress (behind a reverse proxy, list it in trustProxy)');
    counts.maxConnections = 0;
    counts.maxConnectionsPerAddress = 0;
  };
}
