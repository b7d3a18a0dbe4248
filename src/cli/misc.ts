import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { importNanogptProxy, importUsers } from '../admin/index.js';
import { loadConfig } from '../config/index.js';
import { SoakpError } from '../shared/index.js';
import { tlsProblems } from '../tls/index.js';
import { UsageError, globalsOf, output, overridesOf, stdinText, withRuntime } from './context.js';
import { readNanogptUsers } from './nanogpt-file.js';

/** `import`, `admin token` and `config check`: small commands, one each. */
export function registerMisc(program: Command): void {
  program
    .command('import <file>')
    .description('bulk users from a JSON file: [{"email", "key", "upstream"?}], or from another proxy\'s store (--from); all or nothing')
    .addOption(new Option('--from <kind>', "what the file is: json, or nanogpt-proxy (its keys.db; its DB_ENCRYPTION_KEY on standard input)").choices(['json', 'nanogpt-proxy']).default('json'))
    .option('--upstream <name>', 'with --from nanogpt-proxy: which configured upstream the keys are for')
    .action(async (file: string, opts: { from: string; upstream?: string }, cmd: Command) => {
      if (opts.from === 'nanogpt-proxy') return importNanogpt(file, opts.upstream, cmd);
      if (opts.upstream !== undefined) throw new UsageError('--upstream goes with --from nanogpt-proxy; in a JSON file each entry names its own "upstream".');
      const data = readJson(file);
      await withRuntime(cmd, async (_rt, accounts, g) => {
        const emails = await importUsers(accounts, data);
        output(g, { imported: emails.length, emails }, `Imported ${emails.length} user(s). Issue their tokens with \`soakp token issue <email>\`.`);
      });
    });

  program
    .command('admin')
    .description('admin credentials')
    .command('token')
    .description('print a new admin token, once: it authorises POST /api/keys')
    .option('--name <name>', 'a label for the token', 'admin')
    .action(async (opts: { name: string }, cmd: Command) => {
      await withRuntime(cmd, async (_rt, accounts, g) => {
        const { token, record } = await accounts.issueAdminToken(opts.name);
        output(g, { token: token.reveal(), tokenId: record.id }, `Admin token ${record.id} (shown once, store it now):\n${token.reveal()}`);
      });
    });

  program
    .command('config')
    .description('configuration')
    .command('check')
    .description('validate the settings; print every problem; exit non-zero on any')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      const { config, configFile } = loadConfig(overridesOf(g), process.env);
      // The settings are well-formed; certificate files must also be readable and match, ACME's CA file and DNS credentials be there.
      const problems = await tlsProblems(config.tls, process.env);
      if (problems.length > 0) throw new SoakpError('invalid_config', `Invalid configuration:\n  - ${problems.join('\n  - ')}`);
      // URLs may carry a password (redis://:pw@host, postgres://u:pw@host): shown masked.
      // The EAB HMAC key is a credential: shown masked too.
      const shown = JSON.parse(JSON.stringify(config, (k, v: unknown) => (k === 'eabHmacKey' ? '***' : typeof v === 'string' ? maskUrlPassword(v) : v))) as unknown;
      output(g, { ok: true, configFile: configFile ?? null, config: shown }, `Configuration is valid${configFile ? ` (${configFile})` : ''}.`);
    });
}

// The key is read before either file is opened, so a missing one changes nothing and says so.
async function importNanogpt(file: string, upstream: string | undefined, cmd: Command): Promise<void> {
  const secret = await stdinText();
  if (secret === '') throw new UsageError("Give the NanoGPT proxy's DB_ENCRYPTION_KEY on standard input: soakp import --from nanogpt-proxy keys.db < db-key.txt");
  const rows = readNanogptUsers(file);
  await withRuntime(cmd, async (_rt, accounts, g) => {
    const emails = await importNanogptProxy(accounts, rows, secret, upstream);
    output(g, { imported: emails.length, emails }, `Imported ${emails.length} user(s) from the NanoGPT proxy. For Open WebUI, see \`soakp openwebui connect\`; personal tokens: \`soakp token issue <email>\`.`);
  });
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new SoakpError('invalid_request', `Cannot read ${file}.`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new SoakpError('invalid_request', `${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** A URL's password, in its user part or as node-postgres' `password=` parameter, as `***`. */
export function maskUrlPassword(text: string): string {
  const masked = text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^/@]*@/i, '$1***@');
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(masked) ? masked.replace(/([?&]password=)[^&#]*/gi, '$1***') : masked;
}
