import type { Command } from 'commander';
import { createLogger } from '../shared/index.js';
import { UsageError, globalsOf, output } from './context.js';
import { copyDatabase } from './store-copy.js';

export function registerStore(program: Command): void {
  program
    .command('store')
    .description('the database as a whole')
    .command('copy')
    .description(
      'copy a deployment to another database — users, keys, tokens, secrets, usage and the audit chain — in one transaction; ' +
        'with --encrypt-database a new SQLite destination is encrypted (an encrypted source keeps it encrypted anyway)',
    )
    .requiredOption('--from <database>', 'the source: a SQLite file (or sqlite:PATH) or a postgres:// URL')
    .requiredOption('--to <database>', 'the destination: a postgres:// URL or a SQLite file (created when missing)')
    .option('--replace', 'delete what the destination holds and copy over it (default: refuse a destination that holds data)')
    .action(async (opts: { from: string; to: string; replace?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      if (g.databaseUrl !== undefined) throw new UsageError('store copy takes its databases from --from and --to, not --database-url.');
      const logger = createLogger(g.logLevel ?? process.env.SOAKP_LOG_LEVEL ?? 'warn', { fd: 2, sync: true });
      const report = await copyDatabase({
        from: opts.from, to: opts.to, replace: opts.replace === true, encrypt: g.encryptDatabase === true,
        overrides: { config: g.config, dataDir: g.dataDir }, env: process.env, logger,
      });
      const counts = Object.entries(report.tables);
      const total = counts.reduce((n, [, rows]) => n + rows, 0);
      const lines = counts.map(([table, rows]) => `  ${table}\t${rows}`);
      output(
        g,
        { from: report.from, to: report.to, tables: report.tables },
        [
          `Copied ${total} row(s) from ${report.from} to ${report.to}${report.encrypted ? ' (an encrypted SQLite file)' : ''}:`,
          ...lines,
          'Serve it with --database-url (or SOAKP_DATABASE_URL) set to the destination and the same master key; `soakp audit verify` checks the chain there.',
        ].join('\n'),
      );
    });
}
