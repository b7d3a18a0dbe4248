/**
 * The audit log: a hash-chained record of who changed what, and of refusals counted per
 * minute; its head signed under the master key (see docs/SECURITY-MODEL.md, The audit log).
 */
export { AuditLog, type AuditLogOptions, adoptAuditHead } from './log.js';
export { type ChainCheck, type HeadCheck, canonicalJson, entryHash, verifyChain } from './chain.js';
export { auditInput, scrub } from './redact.js';
export type { AuditInputLite, Auditor, SecurityEvent } from './ports.js';
