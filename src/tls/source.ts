import type { IncomingMessage, ServerResponse } from 'node:http';

/** A certificate and its private key, PEM, as a TLS server takes them. */
export interface CertificatePair {
  readonly cert: string;
  /** The private key: never logged, never printed. */
  readonly key: string;
  /** The leaf's serial number (hex), for logs and tests. */
  readonly serial: string;
  /** When the leaf expires. */
  readonly notAfter: Date;
}

/**
 * Where the server's certificate comes from: files, the local CA, or (later) ACME.
 * `current()` MUST always return a pair that was checked (the key matches the certificate);
 * a source MUST NOT swap in a pair that fails that check. Listeners are called after the pair
 * changed, synchronously, and MUST NOT throw. `close()` MUST stop every timer and watcher.
 */
export interface CertificateSource {
  current(): CertificatePair;
  onChange(listener: (pair: CertificatePair) => void): () => void;
  close(): void;
  /** Begins background work (ordering a certificate) once the listeners are up. */
  start?(): void;
  /** False while no valid certificate is in use (ACME before its first order): /readyz answers 503. */
  ready?(): boolean;
  /** The names the certificate is for, when they are known (ACME): the plain-HTTP listener redirects to these only. */
  readonly names?: readonly string[];
  /** Answers ACME HTTP-01 challenges on the plain-HTTP listener; false for any other path. */
  readonly http01?: { handle(req: IncomingMessage, res: ServerResponse): boolean };
}

/** What the listener needs to serve HTTPS. */
export interface TlsServing {
  readonly source: CertificateSource;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** `Strict-Transport-Security` value, when HSTS is on. */
  readonly hsts?: string | undefined;
}

/** Calls each listener; one that throws does not stop the others. */
export function changeSignal(): { listen(listener: (pair: CertificatePair) => void): () => void; emit(pair: CertificatePair): void } {
  const listeners = new Set<(pair: CertificatePair) => void>();
  return {
    listen: (listener) => {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    emit: (pair) => {
      for (const listener of listeners) {
        try {
          listener(pair);
        } catch {
          // A listener MUST NOT throw (see CertificateSource); one that does cannot stop the rest.
        }
      }
    },
  };
}
