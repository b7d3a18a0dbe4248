import type { Command } from 'commander';
import { rewrapFileKey, rotateVault } from '../vault/index.js';
import { sqliteFileOf } from '../store/index.js';
import { output, withRuntime } from './context.js';

export function registerVault(program: Command): void {
  program
    .command('vault')
    .description('the master key')
    .command('rotate')
    .description('add a master-key version and re-wrap every stored data key under it, in one transaction')
    .action(async (_opts: unknown, cmd: Command) => {
      await withRuntime(cmd, async (rt, accounts, g) => {
        const result = await rotateVault(rt.store, rt.keySource);
        const fresh = result.keyring;
        const dbFile = sqliteFileOf(rt.config);
        const fileKey = dbFile ? rewrapFileKey(fresh, `${dbFile}.key`) : false; // false when the database is not encrypted
        // Versions and counts only: the key material never leaves the key source.
        await accounts.audit('vault.rotate', `master-key:v${result.version}`, { version: result.version, rewrapped: result.rewrapped, fileKeyRewrapped: fileKey });
        output(
          g,
          { version: result.version, rewrapped: result.rewrapped },
          `Master key is now version ${result.version}; re-wrapped ${result.rewrapped} data key(s). ` +
            `Older versions stay in the keyring so running servers keep working; remove them once every server has restarted.`,
        );
      });
    });
}
