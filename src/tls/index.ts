/** HTTPS: where the server's certificate comes from (files, a local CA), behind one small interface. */
export * from './files.js';
export * from './local-ca.js';
export * from './open.js';
export * from './pair.js';
export * from './source.js';
