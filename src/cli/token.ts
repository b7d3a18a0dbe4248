import type { Command } from 'commander';
import { type TokenRecord, tokenState } from '../domain/index.js';
import { parseDuration } from '../shared/index.js';
import type { Policy } from '../domain/index.js';
import { output, row, when, withRuntime } from './context.js';
import { type BrowserFlags, browserFromFlags } from './browser-options.js';
import { type PolicyFlags, addPolicyOptions, describePolicy, policyFromFlags } from './policy-options.js';

export function registerToken(program: Command): void {
  const token = program.command('token').description('personal tokens');

  addPolicyOptions(
    token
      .command('issue <email>')
      .description('a further personal token for a user (printed once), with optional scopes, limits and budget')
      .option('--name <name>', 'a label to recognise the token by', 'default')
      .option('--expires <duration>', 'lifetime, e.g. 12h, 30d, 1y (default: never)')
      .option('--upstream <name>', 'which of the user\'s upstream keys the token uses')
      .option('--origins <list>', 'web origins whose pages may use the token, comma-separated (https://app.example.com,https://*.example.com); others are refused')
      .option('--allow-no-origin', 'with --origins: also accept requests that name no origin (servers, curl)')
      .option('--mint', "a minting token for an app's server: it mints short-lived tokens (POST /api/tokens/ephemeral) and cannot call /v1"),
  ).action(async (email: string, opts: PolicyFlags & BrowserFlags & { name: string; expires?: string; upstream?: string }, cmd: Command) => {
      const expiresInMs = opts.expires === undefined ? undefined : parseDuration(opts.expires);
      const policy = policyFromFlags(opts);
      const browser = browserFromFlags(opts);
      await withRuntime(cmd, async (_rt, accounts, g) => {
        const { token: t, record } = await accounts.issueToken(email, { name: opts.name, expiresInMs, upstream: opts.upstream, policy, ...browser });
        const what = record.kind === 'mint' ? 'Minting token' : 'Token';
        output(
          g,
          { email: email.trim().toLowerCase(), token: t.reveal(), tokenId: record.id, kind: record.kind, name: record.name, expiresAt: when(record.expiresAt), policy: record.options.policy ?? {}, origins: record.options.origins ?? null, allowNoOrigin: record.options.allowNoOrigin === true },
          `${what} ${record.id} for ${email.trim().toLowerCase()} (shown once, store it now):\n${t.reveal()}`,
        );
      });
    });

  token
    .command('list [email]')
    .description('tokens by id and display prefix, never whole')
    .option('--all', 'also ephemeral tokens, admin tokens and Open WebUI connection keys')
    .action(async (email: string | undefined, opts: { all?: boolean }, cmd: Command) => {
      await withRuntime(cmd, async (_rt, accounts, g) => {
        const now = Date.now();
        const listed = await accounts.listTokens(email, opts.all === true);
        const byId = new Map(listed.map((t) => [t.id, t]));
        // An ephemeral token ends with the minting token it came from.
        const stateOf = (t: TokenRecord): string => {
          const parent = t.kind === 'ephemeral' ? byId.get(String(t.options.parent)) : undefined;
          return parent && tokenState(parent, now) !== 'active' && tokenState(t, now) === 'active' ? 'revoked' : tokenState(t, now);
        };
        const tokens = listed.map((t) => ({
          id: t.id, kind: t.kind, email: t.email, name: t.name, prefix: t.displayPrefix, state: stateOf(t),
          createdAt: when(t.createdAt), expiresAt: when(t.expiresAt), lastUsedAt: when(t.lastUsedAt), revokedAt: when(t.revokedAt),
          policy: (t.options.policy as Policy | undefined) ?? {}, origins: (t.options.origins as string[] | undefined) ?? null,
        }));
        const rows = tokens.map((t) => row([t.id, t.kind, t.email, t.name, t.prefix, t.state, t.createdAt, t.expiresAt, t.lastUsedAt, [describePolicy(t.policy), t.origins ? `origins=${t.origins.join(',')}` : ''].filter(Boolean).join(' ')]));
        output(g, tokens, rows.length > 0 ? ['ID\tKIND\tEMAIL\tNAME\tPREFIX\tSTATE\tCREATED\tEXPIRES\tLAST USED\tPOLICY', ...rows].join('\n') : 'No tokens.');
      });
    });

  token
    .command('revoke <id>')
    .description('revoke a token; a running server refuses it within a second')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await withRuntime(cmd, async (_rt, accounts, g) => {
        await accounts.revokeToken(id);
        output(g, { tokenId: id, revoked: true }, `Revoked ${id}.`);
      });
    });
}
