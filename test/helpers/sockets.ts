import { type Socket, connect } from 'node:net';

/** A raw keep-alive connection to a server, from a chosen loopback address (127.0.0.0/8 all work on Linux). */
export interface RawConnection {
  readonly socket: Socket;
  /** Every byte the server sent so far. */
  received(): string;
  /** Resolves once the connection is open. */
  readonly opened: Promise<void>;
  /** Resolves with the ms from opening until the server closed it, or `undefined` if `withinMs` passed first. */
  closedWithin(withinMs: number): Promise<number | undefined>;
  /** Sends one request without a body and resolves with the status of its answer (the connection stays open). */
  get(path: string, headers?: Record<string, string>, method?: string): Promise<number>;
}

export function openConnection(url: string, localAddress = '127.0.0.1'): RawConnection {
  const { port, hostname } = new URL(url);
  const started = Date.now();
  const socket = connect({ port: Number(port), host: hostname, localAddress });
  let data = '';
  let closedAt: number | undefined;
  const waiters: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    data += d.toString('latin1');
    for (const w of waiters.splice(0)) w();
  });
  socket.on('error', () => undefined); // a refused or reset connection shows as closed
  const closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      closedAt = Date.now();
      for (const w of waiters.splice(0)) w();
      resolve();
    }),
  );
  const opened = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return {
    socket,
    received: () => data,
    opened,
    closedWithin: async (withinMs) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, withinMs)))]);
      clearTimeout(timer);
      return closedAt === undefined ? undefined : closedAt - started;
    },
    get: (path, headers = {}, method = 'GET') => {
      const from = data.length;
      const lines = Object.entries({ host: 'soakp.test', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`);
      socket.write(`${method} ${path} HTTP/1.1\r\n${lines.join('')}\r\n`);
      // One whole answer: its head, then Content-Length bytes of body.
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const text = data.slice(from);
          const end = text.indexOf('\r\n\r\n');
          const length = Number(/\r\ncontent-length: (\d+)/i.exec(text)?.[1] ?? 0);
          if (end !== -1 && text.length >= end + 4 + length) return resolve(Number(text.slice(9, 12)));
          if (closedAt !== undefined) return reject(new Error(`connection closed after ${JSON.stringify(text.slice(0, 200))}`));
          waiters.push(check);
        };
        check();
      });
    },
  };
}
