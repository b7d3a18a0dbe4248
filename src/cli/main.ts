import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { isSoakpError, type ErrorCode } from '../shared/index.js';
import { AuditBrokenError, registerAudit } from './audit.js';
import { UsageError, printable } from './context.js';
import { registerKey } from './key.js';
import { registerMisc } from './misc.js';
import { registerOpenWebUI } from './openwebui.js';
import { registerServe } from './serve.js';
import { registerStore } from './store.js';
import { registerTls } from './tls.js';
import { registerToken } from './token.js';
import { registerUsage } from './usage.js';
import { registerUser } from './user.js';
import { registerVault } from './vault.js';

/**
 * Exit codes: 0 ok, 1 failure, 2 bad input or usage, 3 not found, 4 already exists, 5 key or
 * database refused, 6 audit chain broken (`audit verify`: an entry was edited, removed or reordered).
 */
const EXIT: Partial<Record<ErrorCode, number>> = {
  invalid_request: 2, invalid_config: 2, invalid_email: 2, invalid_key: 2, invalid_duration: 2,
  not_found: 3, user_not_found: 3, token_not_found: 3, upstream_not_found: 3, key_not_found: 3,
  user_exists: 4, conflict: 4,
  master_key_mismatch: 5, master_key_missing: 5, store_corrupt: 5, decrypt_failed: 5,
};

export function buildProgram(): Command {
  const program = new Command('soakp')
    .description('Secure OpenAI Key Proxy: a key vault and streaming proxy for OpenAI-compatible APIs')
    .option('--config <file>', 'config file (YAML or JSON)')
    .option('--data-dir <dir>', 'data directory (default ./data)')
    .option('--database-url <url>', 'database (default: SQLite file <data-dir>/soakp.db)')
    .option('--encrypt-database', 'encrypt the whole SQLite file (chosen when the database is created)')
    .option('--json', 'machine-readable output')
    .version(version(), '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  registerServe(program);
  registerUser(program);
  registerKey(program);
  registerToken(program);
  registerMisc(program);
  registerVault(program);
  registerOpenWebUI(program);
  registerUsage(program);
  registerAudit(program);
  registerTls(program);
  registerStore(program);
  for (const cmd of allCommands(program)) cmd.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2; // commander printed it
    const json = argv.includes('--json');
    const known = isSoakpError(err) || err instanceof UsageError || err instanceof AuditBrokenError;
    const code = known ? (err instanceof UsageError ? 'usage' : err.code) : 'internal_error';
    const message = known ? err.message : `Unexpected failure: ${(err as Error)?.message ?? String(err)}`;
    process.stderr.write(json ? `${JSON.stringify({ error: { code, message } })}\n` : `soakp: ${printable(message)}\n`);
    if (err instanceof UsageError) return 2;
    if (err instanceof AuditBrokenError) return 6;
    return isSoakpError(err) ? (EXIT[err.code] ?? 1) : 1;
  }
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
