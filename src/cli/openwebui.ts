import type { Command } from 'commander';
import { connectOpenWebUI } from '../admin/index.js';
import { output, row, stdinText, when, withRuntime } from './context.js';

export function registerOpenWebUI(program: Command): void {
  const owui = program.command('openwebui').description('Open WebUI as a trusted front end');

  owui
    .command('connect')
    .description('print a connection key to paste into Open WebUI (shown once)')
    .option('--jwt-secret <secret>', "Open WebUI's FORWARD_USER_INFO_HEADER_JWT_SECRET: verify X-OpenWebUI-User-Jwt")
    .option('--jwt-secret-stdin', 'read the JWT secret from standard input')
    .option('--trust-email-header', 'also accept X-OpenWebUI-User-Email (only alongside this key)')
    .option('--models-user <email>', "whose key answers Open WebUI's model listings, which carry no user")
    .option('--upstream <name>', "which of the users' upstream keys requests use")
    .option('--name <name>', 'a label for the connection', 'open-webui')
    .action(async (opts: { jwtSecret?: string; jwtSecretStdin?: boolean; trustEmailHeader?: boolean; modelsUser?: string; upstream?: string; name: string }, cmd: Command) => {
      const jwtSecret = opts.jwtSecretStdin ? await stdinText() : opts.jwtSecret;
      await withRuntime(cmd, async (_rt, accounts, g) => {
        const { token, record } = await connectOpenWebUI(accounts, { ...opts, jwtSecret });
        output(
          g,
          { token: token.reveal(), tokenId: record.id },
          `Open WebUI connection key ${record.id} (shown once). In Open WebUI, add an OpenAI connection with\n` +
            `URL http://<this host>:<port>/v1 and this key:\n${token.reveal()}`,
        );
      });
    });

  owui
    .command('list')
    .description('connection keys, by id and prefix')
    .action(async (_opts: unknown, cmd: Command) => {
      await withRuntime(cmd, async (rt, _accounts, g) => {
        const keys = (await rt.store.tokens.list({ kinds: ['openwebui'] })).map((t) => ({
          id: t.id, name: t.name, prefix: t.displayPrefix, options: t.options, createdAt: when(t.createdAt), revokedAt: when(t.revokedAt),
        }));
        const rows = keys.map((k) => row([k.id, k.name, k.prefix, JSON.stringify(k.options), k.createdAt, k.revokedAt]));
        output(g, keys, rows.length > 0 ? ['ID\tNAME\tPREFIX\tOPTIONS\tCREATED\tREVOKED', ...rows].join('\n') : 'No Open WebUI connections.');
      });
    });
}
