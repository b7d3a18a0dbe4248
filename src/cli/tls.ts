import type { Command } from 'commander';
import { loadOrCreateLocalCa } from '../tls/index.js';
import { output, withRuntime } from './context.js';

/** `tls ca`: the local CA's certificate, for clients to trust (docs/tls.md). */
export function registerTls(program: Command): void {
  program
    .command('tls')
    .description('HTTPS certificates')
    .command('ca')
    .description("print the local CA's certificate (PEM), creating the CA if there is none yet; never its key")
    .action(async (_opts: unknown, cmd: Command) => {
      await withRuntime(cmd, async (rt, _accounts, g) => {
        const ca = await loadOrCreateLocalCa({ store: rt.store, vault: rt.vault, dataDir: rt.config.dataDir, logger: rt.logger });
        output(g, { certificate: ca.cert, name: ca.name }, ca.cert.trimEnd());
      });
    });
}
