import type { Command } from 'commander';
import { emailKey } from '../domain/index.js';
import type { UsageGrouping } from '../domain/index.js';
import { parseDuration, SoakpError } from '../shared/index.js';
import { UsageError, output, row, withRuntime } from './context.js';

const GROUPINGS: readonly UsageGrouping[] = ['day', 'user', 'model'];

export function registerUsage(program: Command): void {
  program
    .command('usage')
    .description('usage report from the ledger: requests, tokens and cost')
    .option('--user <email>', 'only this user')
    .option('--since <duration>', 'how far back, e.g. 24h, 7d, 30d', '30d')
    .option('--by <grouping>', 'day, user or model', 'user')
    .action(async (opts: { user?: string; since: string; by: string }, cmd: Command) => {
      if (!GROUPINGS.includes(opts.by as UsageGrouping)) throw new UsageError(`--by must be day, user or model, not "${opts.by}".`);
      const by = opts.by as UsageGrouping;
      const since = Date.now() - parseDuration(opts.since);
      await withRuntime(cmd, async (rt, _accounts, g) => {
        let userId: string | undefined;
        if (opts.user !== undefined) {
          const user = await rt.store.users.byEmail(emailKey(opts.user));
          if (!user) throw new SoakpError('user_not_found', `No user with email ${emailKey(opts.user)}.`);
          userId = user.id;
        }
        const rows = (await rt.store.usage.summarize({ since, userId, by })).map((s) => ({
          [by]: s.key,
          requests: s.requests,
          promptTokens: s.promptTokens,
          completionTokens: s.completionTokens,
          totalTokens: s.totalTokens,
          costUsd: Math.round(s.costMicros) / 1e6,
        }));
        const table = (): string => {
          if (rows.length === 0) return `No usage since ${new Date(since).toISOString().slice(0, 16)}Z.`;
          const lines = rows.map((r) => row([r[by] as string, r.requests, r.promptTokens, r.completionTokens, r.totalTokens, `$${r.costUsd.toFixed(4)}`]));
          return [`${by.toUpperCase()}\tREQUESTS\tPROMPT\tCOMPLETION\tTOTAL\tCOST`, ...lines].join('\n');
        };
        output(g, rows, table);
      });
    });
}
