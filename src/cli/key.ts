import type { Command } from 'commander';
import { UsageError, output, readKey, withRuntime } from './context.js';

export function registerKey(program: Command): void {
  program
    .command('key')
    .description("manage a user's upstream keys")
    .command('set <email>')
    .description("replace a user's upstream key; their tokens keep working")
    .option('--key <key>', 'the upstream key (prefer --key-stdin)')
    .option('--key-stdin', 'read the upstream key from standard input')
    .option('--upstream <name>', 'which configured upstream the key is for')
    .action(async (email: string, opts: { key?: string; keyStdin?: boolean; upstream?: string }, cmd: Command) => {
      const key = await readKey(opts);
      if (key === undefined) throw new UsageError('Give the new key with --key-stdin or --key.');
      await withRuntime(cmd, async (_rt, accounts, g) => {
        const stored = await accounts.setKey(email, key, opts.upstream);
        output(g, { email: email.trim().toLowerCase(), ...stored }, `Stored a new ${stored.upstream} key (${stored.hint}) for ${email.trim().toLowerCase()}.`);
      });
    });
}
