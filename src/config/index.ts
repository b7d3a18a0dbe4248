/** Settings: defaults, config file, environment and flags, checked into one Config; upstreams resolved. */
export * from './load.js';
export * from './schema.js';
export * from './upstreams.js';
export * from './tls-overrides.js';
