import { createHmac, timingSafeEqual } from 'node:crypto';
import type { MasterKeyring } from '../crypto/index.js';
import type { AuditHead, HeadMac, NextHeadMac } from '../store/index.js';

/** The purpose the audit head's MAC key is derived for, from each master-key version. */
export const AUDIT_HEAD = 'audit-head';

/** `v<master-key version>:<hex>`: the HMAC of the head under that version's audit-head key. */
export function headMacWith(key: Buffer, version: number, seq: number, hash: string): string {
  return `v${version}:${createHmac('sha256', key).update(`audit-head|${seq}|${hash}`).digest('hex')}`;
}

/** Whether `head.mac` holds under `keyOf(version)`; false for a version the keyring lacks. */
export function headMacHolds(head: AuditHead, keyOf: (version: number) => Buffer | undefined): boolean {
  const m = /^v(\d{1,6}):([0-9a-f]{64})$/.exec(head.mac);
  if (!m) return false;
  const version = Number(m[1]);
  const key = keyOf(version);
  if (!key) return false;
  const expected = Buffer.from(headMacWith(key, version, head.seq, head.hash).slice(m[0].indexOf(':') + 1), 'hex');
  return timingSafeEqual(Buffer.from(m[2] as string, 'hex'), expected);
}

/**
 * The head's signer for a store opened without a Vault: `store copy` signs a new database's
 * head as any first open does, without writing a Vault's own records into it.
 */
export function auditHeadSigner(keyring: MasterKeyring): { mac: HeadMac; next: NextHeadMac } {
  const keyOf = (version: number) => (keyring.has(version) ? keyring.derive(version, AUDIT_HEAD) : undefined);
  const mac: HeadMac = (seq, hash) => headMacWith(keyring.derive(keyring.current, AUDIT_HEAD), keyring.current, seq, hash);
  return { mac, next: (previous, seq, hash) => (headMacHolds(previous, keyOf) ? mac(seq, hash) : '') };
}
