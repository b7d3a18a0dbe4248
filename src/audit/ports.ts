import type { AuditEntry } from '../domain/index.js';

export type SecurityEvent = 'auth_failed' | 'scope_denied' | 'rate_limited' | 'budget_exceeded';

export interface AuditInputLite {
  actor: string;
  action: string;
  target?: string | null;
  details?: Record<string, unknown>;
  source?: string | null;
}

/** The audit log as services use it. */
export interface Auditor {
  record(input: AuditInputLite): Promise<AuditEntry>;
  /** Counted in memory and written as one entry per (event, key, source) per minute, so a flood cannot fill the disk. */
  securityEvent(event: SecurityEvent, key: string, source?: string | null, details?: Record<string, unknown>): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}
