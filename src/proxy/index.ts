/**
 * The data plane: authentication, the canonical path, reading a body for policies, admission,
 * forwarding to the upstream and relaying its answer (HTTP, the library's exchange, realtime).
 */
export * from './authenticate.js';
export * from './exchange.js';
export * from './forward.js';
export * from './inspection.js';
export * from './path.js';
export * from './realtime.js';
export * from './route.js';
