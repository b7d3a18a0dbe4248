/** The control plane: users, keys, tokens, policies and Open WebUI connections, audited; POST /api/keys and POST /api/tokens/ephemeral. */
export * from './accounts.js';
export * from './ephemeral.js';
export * from './ephemeral-route.js';
export * from './import.js';
export * from './nanogpt-proxy.js';
export * from './openwebui.js';
export * from './policies.js';
export * from './routes.js';
export * from './save-key.js';
