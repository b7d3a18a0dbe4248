import type { Command } from 'commander';
import type { CertificateRecord } from '../domain/index.js';
import { SoakpError } from '../shared/index.js';
import { loadOrCreateLocalCa } from '../tls/index.js';
import { output, withRuntime } from './context.js';

/** `tls ca`, `tls status`, `tls renew`: the local CA's certificate, and the certificates soakp obtains (docs/tls.md). */
export function registerTls(program: Command): void {
  const tls = program.command('tls').description('HTTPS certificates');
  tls
    .command('ca')
    .description("print the local CA's certificate (PEM), creating the CA if there is none yet; never its key")
    .action(async (_opts: unknown, cmd: Command) => {
      await withRuntime(cmd, async (rt, _accounts, g) => {
        const ca = await loadOrCreateLocalCa({ store: rt.store, vault: rt.vault, dataDir: rt.config.dataDir, logger: rt.logger });
        output(g, { certificate: ca.cert, name: ca.name }, ca.cert.trimEnd());
      });
    });
  tls
    .command('status')
    .description('list the ACME certificates in the store: names, issuer, expiry, next renewal, last error')
    .action(async (_opts: unknown, cmd: Command) => {
      await withRuntime(cmd, async (rt, _accounts, g) => {
        const records = await rt.store.certificates.list();
        const rows = records.map(statusOf);
        const human = rows.length === 0
          ? 'No ACME certificates yet: a server started with --tls acme orders one and keeps it here.'
          : rows.map((r) => [
              r.name, `  issuer:       ${r.issuer ?? '(none yet)'}`, `  serial:       ${r.serial ?? '-'}`, `  not after:    ${r.notAfter ?? '-'}`,
              `  next renewal: ${r.nextRenewal}`, ...(r.lastError === undefined ? [] : [`  last error:   ${r.lastError} (${r.lastErrorAt})`]),
            ].join('\n')).join('\n\n');
        output(g, rows, human);
      });
    });
  tls
    .command('renew [name]')
    .description('ask the running server to renew now: the certificate whose names include NAME, or every one')
    .action(async (name: string | undefined, _opts: unknown, cmd: Command) => {
      await withRuntime(cmd, async (rt, _accounts, g) => {
        const records = await rt.store.certificates.list();
        const chosen = name === undefined ? records : records.filter((r) => r.name === name || r.domains.includes(name));
        if (chosen.length === 0) {
          throw new SoakpError('not_found', name === undefined ? 'There are no ACME certificates to renew (see `soakp tls status`).' : `No ACME certificate is for ${name} (see \`soakp tls status\`).`);
        }
        const marked: string[] = [];
        for (const record of chosen) marked.push(...(await rt.store.certificates.requestRenewal(record.name, Date.now())));
        output(g, { requested: marked }, `Renewal requested for ${marked.join('; ')}.\nA running server renews within seconds: watch its log, or \`soakp tls status\`.`);
      });
    });
}

function statusOf(r: CertificateRecord) {
  const iso = (ms: number): string => new Date(ms).toISOString();
  const nextRenewal = r.renewRequestedAt !== undefined ? `requested ${iso(r.renewRequestedAt)}`
    : r.lastError !== undefined ? `retry ${iso(r.lastError.retryAt)}`
    : r.issued !== undefined ? iso(r.issued.renewAt) : 'as soon as a server runs';
  return {
    name: r.name, domains: r.domains, issuer: r.issued?.issuer, serial: r.issued?.serial,
    notBefore: r.issued && iso(r.issued.notBefore), notAfter: r.issued && iso(r.issued.notAfter), nextRenewal,
    lastError: r.lastError?.message, lastErrorAt: r.lastError && iso(r.lastError.at),
  };
}
