import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { Secret, SoakpError } from '../shared/index.js';
import { KEY_BYTES } from './aead.js';

/**
 * The master keys, by version. The newest version wraps new data keys; older versions stay
 * only until `vault rotate` has re-wrapped everything written under them.
 */
export class MasterKeyring {
  readonly #keys: Map<number, Secret<Buffer>>;

  constructor(keys: Map<number, Buffer>) {
    if (keys.size === 0) throw new SoakpError('master_key_missing', 'No master key was given.');
    this.#keys = new Map();
    for (const [version, key] of keys) {
      if (!Number.isInteger(version) || version < 1) {
        throw new SoakpError('invalid_config', `Master-key version "${version}" must be a positive integer.`);
      }
      if (key.length !== KEY_BYTES) {
        throw new SoakpError('invalid_config', `Master key version ${version} is ${key.length} bytes; it must be 32.`);
      }
      this.#keys.set(version, new Secret(Buffer.from(key)));
    }
  }

  get current(): number {
    return Math.max(...this.#keys.keys());
  }

  get versions(): number[] {
    return [...this.#keys.keys()].sort((a, b) => a - b);
  }

  has(version: number): boolean {
    return this.#keys.has(version);
  }

  key(version: number): Buffer {
    const key = this.#keys.get(version);
    if (!key) {
      throw new SoakpError(
        'master_key_missing',
        `Data is wrapped under master-key version ${version}, which the configured keyring lacks.`,
      );
    }
    return key.reveal();
  }

  /** A purpose-bound subkey (HKDF-SHA-256, RFC 5869), so no two uses share key material. */
  derive(version: number, purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.key(version), Buffer.alloc(0), `soakp/${purpose}`, KEY_BYTES));
  }

  /** A value that identifies a key without revealing it: stored so a wrong key is caught at start. */
  checkValue(version: number): string {
    return createHmac('sha256', this.derive(version, 'key-check')).update('soakp key check v1').digest('base64url');
  }

  matches(version: number, checkValue: string): boolean {
    const mine = Buffer.from(this.checkValue(version));
    const theirs = Buffer.from(checkValue);
    return mine.length === theirs.length && timingSafeEqual(mine, theirs);
  }
}
