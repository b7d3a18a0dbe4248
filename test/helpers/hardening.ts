import { request } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Soakp } from '../../src/library.js';
import { json, runCli } from './cli.js';
import { startFakeUpstream } from './fake-upstream.js';
import { canaryKey, randomMasterKey, tempDir } from './temp.js';

/** A raw request: the path exactly as written (fetch would normalise it) and any method. */
export function send(url: string, method: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, timeout: 10_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s'))).on('error', reject);
    req.end(body);
  });
}

export const codeOf = (body: string): string => (JSON.parse(body) as { error: { code: string } }).error.code;

/** A soakp on 127.0.0.1 with a recording upstream and one user; `config` is the YAML config file's text. */
export async function harness(config: string) {
  const temp = tempDir();
  const upstream = await startFakeUpstream();
  const file = join(temp.dir, 'soakp.yaml');
  writeFileSync(file, config);
  const env = { SOAKP_DATA_DIR: temp.dir, SOAKP_MASTER_KEY: randomMasterKey(), SOAKP_UPSTREAM: upstream.baseUrl, SOAKP_CONFIG: file };
  json(await runCli(['user', 'add', 'h@example.com', '--key-stdin', '--no-token', '--json'], env, canaryKey()));
  const soakp = await Soakp.open({ logLevel: 'silent', env });
  const server = await soakp.listen({ host: '127.0.0.1', port: 0 });
  return {
    upstream,
    server,
    issue: async (...options: string[]) => json<{ token: string }>(await runCli(['token', 'issue', 'h@example.com', ...options, '--json'], env)).token,
    close: async () => {
      await server.close();
      await soakp.close();
      await upstream.close();
      temp.cleanup();
    },
  };
}

