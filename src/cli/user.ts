import type { Command } from 'commander';
import { setUserPolicy } from '../admin/index.js';
import { output, readKey, row, when, withRuntime } from './context.js';
import { type PolicyFlags, addPolicyOptions, describePolicy, mergePolicy, policyFromFlags } from './policy-options.js';

export function registerUser(program: Command): void {
  const user = program.command('user').description('manage users and their upstream keys');

  user
    .command('add <email>')
    .description('create a user with their upstream key; prints a new personal token, once')
    .option('--key <key>', 'the upstream key (prefer --key-stdin: a flag lands in shell history)')
    .option('--key-stdin', 'read the upstream key from standard input')
    .option('--upstream <name>', 'which configured upstream the key is for')
    .option('--no-token', 'create the user without issuing a token')
    .action(async (email: string, opts: { key?: string; keyStdin?: boolean; upstream?: string; token: boolean }, cmd: Command) => {
      const key = await readKey(opts);
      await withRuntime(cmd, async (_rt, accounts, g) => {
        const { user: u, issued } = await accounts.addUser({ email, key, upstream: opts.upstream, token: opts.token });
        const token = issued?.token.reveal();
        output(
          g,
          { email: u.email, userId: u.id, token: token ?? null, tokenId: issued?.record.id ?? null },
          token ? `Created ${u.email}.\nPersonal token (shown once, store it now):\n${token}` : `Created ${u.email} (no token issued).`,
        );
      });
    });

  addPolicyOptions(
    user
      .command('limits <email>')
      .description("set a user's limits and budget (all their traffic) and default scopes for their tokens")
      .option('--clear', 'remove the whole policy first'),
  ).action(async (email: string, opts: PolicyFlags & { clear?: boolean }, cmd: Command) => {
    const change = policyFromFlags(opts);
    await withRuntime(cmd, async (_rt, accounts, g) => {
      const { user: u, policy } = await setUserPolicy(accounts, email, (current) => mergePolicy(opts.clear ? {} : current, change));
      output(g, { email: u.email, policy }, `Policy of ${u.email}: ${describePolicy(policy) || 'none'}.`);
    });
  });

  user
    .command('list')
    .description('users, status, masked key, token count')
    .action(async (_opts: unknown, cmd: Command) => {
      await withRuntime(cmd, async (_rt, accounts, g) => {
        const users = await accounts.listUsers();
        const rows = users.map((u) => row([u.email, u.status, u.keys.map((k) => `${k.upstream}:${k.hint}`).join(','), u.tokens, when(u.createdAt), describePolicy(u.policy)]));
        output(
          g,
          users.map((u) => ({ email: u.email, id: u.id, status: u.status, keys: u.keys, tokens: u.tokens, createdAt: when(u.createdAt), policy: u.policy ?? {} })),
          rows.length > 0 ? ['EMAIL\tSTATUS\tKEYS\tTOKENS\tCREATED\tPOLICY', ...rows].join('\n') : 'No users yet.',
        );
      });
    });

  for (const [name, verb, description] of [
    ['del', 'Deleted', 'delete a user, their keys and tokens'],
    ['disable', 'Disabled', "disable a user: their tokens stop working at once"],
    ['enable', 'Enabled', 're-enable a disabled user'],
  ] as const) {
    user
      .command(`${name} <email>`)
      .description(description)
      .action(async (email: string, _opts: unknown, cmd: Command) => {
        await withRuntime(cmd, async (_rt, accounts, g) => {
          const target = await accounts.user(email);
          if (name === 'del') await accounts.deleteUser(email);
          else await accounts.setStatus(email, name === 'disable' ? 'disabled' : 'active');
          output(g, { email: target.email, action: name }, `${verb} ${target.email}.`);
        });
      });
  }
}
