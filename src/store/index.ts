/** Persistence behind one Store interface (SQLite today), with its migrations. */
export * from './migrations.js';
export * from './open-store.js';
export * from './ports.js';
export { type CopyCounts, type CopyOptions, copyStore } from './copy.js';
