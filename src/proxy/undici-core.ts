import { createRequire } from 'node:module';
import type * as Undici from 'undici';

// undici's index loads all of it — fetch, WebSocket, caches, mocks, proxies: ~110 files and
// about 12 MB of an idle server's memory. The proxy needs a Pool, the error classes and the header
// name table, so it loads just those files. They are undici's internals, not its public
// entry: package.json pins undici to one exact version, and the whole test suite runs on them.
// This is their one adapter (the import rules of docs/ARCHITECTURE.md); undici-core.test.ts
// fails, naming undici's version, when they change shape.
// (A Pool per upstream origin, rather than an Agent over them: the Agent's layer re-emits every
// pool's 'drain' with a new array, on each request.)
const require = createRequire(import.meta.url);

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof Undici.Pool;
export const errors = require('undici/lib/core/errors.js') as typeof Undici.errors;
/** A raw header name as a lower-case string; well-known names come from undici's table, without a copy. */
export const headerName = (require('undici/lib/core/util.js') as { headerNameToString(name: Buffer): string }).headerNameToString;
