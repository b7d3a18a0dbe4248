/**
 * The data plane: one pipeline (pipeline.ts) for every entry — authentication, the canonical
 * path, reading a body for policies, admission, forwarding to the upstream and relaying its
 * answer (a realtime session tunnelled), settling at the end.
 */
export * from './admission.js';
export * from './authenticate.js';
export * from './body.js';
export * from './collect.js';
export * from './cors.js';
export * from './forward.js';
export * from './inspection.js';
export * from './path.js';
export * from './pipeline.js';
export * from './realtime.js';
