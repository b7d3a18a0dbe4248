import type { Command } from 'commander';
import { verifyChain } from '../audit/index.js';
import { UsageError, output, row, when, withRuntime } from './context.js';

/** The hash chain does not hold: main.ts gives it its own exit code (6), for scripts and cron. */
export class AuditBrokenError extends Error {
  override readonly name = 'AuditBrokenError';
  readonly code = 'audit_broken';
}

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('the hash-chained log of control-plane changes and security events');

  audit
    .command('list')
    .description('entries, oldest first: who, what, when, from where (never a secret)')
    .option('--limit <n>', 'only the newest n entries')
    .action(async (opts: { limit?: string }, cmd: Command) => {
      const limit = opts.limit === undefined ? undefined : positive(opts.limit);
      await withRuntime(cmd, async (rt, _accounts, g) => {
        const entries = await rt.store.audit.list(limit === undefined ? {} : { limit });
        const shown = entries.map((e) => ({ id: e.id, at: when(e.at), actor: e.actor, action: e.action, target: e.target, source: e.source, details: e.details, hash: e.hash }));
        const rows = shown.map((e) => row([e.id, e.at, e.actor, e.action, e.target, e.source, compact(e.details)]));
        output(g, shown, rows.length > 0 ? ['ID\tTIME\tACTOR\tACTION\tTARGET\tSOURCE\tDETAILS', ...rows].join('\n') : 'The audit log is empty.');
      });
    });

  audit
    .command('verify')
    .description('check the hash chain and its signed head; exit 6 when an entry was edited, removed or reordered')
    .action(async (_opts: unknown, cmd: Command) => {
      await withRuntime(cmd, async (rt, _accounts, g) => {
        // One read transaction: an append from another process cannot land between the two reads.
        const [entries, head] = await rt.store.transaction((tx) => Promise.all([tx.audit.list(), tx.audit.head()]));
        const result = verifyChain(entries, { head: { seq: head.seq, hash: head.hash, authentic: rt.vault.auditHeadAuthentic(head) } });
        if (result.ok) {
          output(g, result, `Audit chain intact: ${result.count} entries.`);
          return;
        }
        // The report goes to stdout for --json readers; the error (and exit 6) comes from main.
        if (g.json) output(g, result, '');
        throw new AuditBrokenError(`Audit chain broken at entry ${result.brokenAt}: ${result.reason}.`);
      });
    });
}

function positive(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--limit takes a positive whole number, not "${text.slice(0, 20)}".`);
  return n;
}

// One line per entry in a table: empty details show as '-', the rest as compact JSON.
function compact(details: Readonly<Record<string, unknown>>): string | null {
  return Object.keys(details).length === 0 ? null : JSON.stringify(details);
}
