/** Types and pure rules shared by every layer: users, tokens, policies, usage, emails. */
export * from './email.js';
export * from './openwebui.js';
export * from './policy.js';
export * from './types.js';
export * from './usage.js';
export * from './certificates.js';
