/** AES-256-GCM envelopes, the versioned master keyring, and personal-token format and hashing. */
export * from './envelope.js';
export * from './keyring.js';
export * from './tokens.js';
