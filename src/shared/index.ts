/** Small pieces every layer uses: errors in OpenAI's envelope, secrets, logs, durations, credentials, client addresses, web origins. */
export * from './access-log.js';
export * from './atomic-file.js';
export * from './client-address.js';
export * from './credentials.js';
export * from './duration.js';
export * from './errors.js';
export * from './ids.js';
export * from './logger.js';
export * from './origins.js';
export * from './secret.js';
