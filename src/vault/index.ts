/** Sealing and opening upstream keys, token hashing, the audit head's MAC, master-key sources and rotation. */
export * from './file-key.js';
export * from './master-key-source.js';
export * from './rotate.js';
export * from './vault.js';
export { checkKeyring } from './verify.js';
export { auditHeadSigner } from './audit-head.js';
