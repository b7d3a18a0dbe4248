import type { Generated } from 'kysely';

/** Table shapes shared by every SQL store (column names in snake_case; times in epoch ms). */
export interface UsersTable {
  id: string;
  email: string;
  status: string;
  created_at: number;
  policy: Generated<string>;
}

export interface UsageTable {
  id: Generated<number>;
  at: number;
  user_id: string;
  token_id: string;
  upstream: string;
  model: string | null;
  endpoint: string;
  status: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_micros: number;
  duration_ms: number;
  bytes_in: number;
  bytes_out: number;
  source: string;
}

export interface BudgetCountersTable {
  scope: string;
  period: string;
  spent_tokens: Generated<number>;
  spent_micros: Generated<number>;
  reserved_tokens: Generated<number>;
  reserved_micros: Generated<number>;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  actor: string;
  action: string;
  target: string | null;
  details: string;
  source: string | null;
  prev_hash: string;
  hash: string;
}

export interface UpstreamKeysTable {
  id: string;
  user_id: string;
  upstream: string;
  hint: string;
  master_version: number;
  wrapped_key: Buffer;
  ciphertext: Buffer;
  updated_at: number;
}

export interface TokensTable {
  id: string;
  kind: string;
  user_id: string | null;
  name: string;
  display_prefix: string;
  hash: Buffer;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  options: string;
}

export interface SecretsTable {
  id: string;
  master_version: number;
  wrapped_key: Buffer;
  ciphertext: Buffer;
}

export interface MasterKeysTable {
  version: number;
  check_value: string;
  created_at: number;
}

export interface TlsCertificatesTable {
  name: string;
  domains: string;
  cert_pem: string | null;
  serial: string | null;
  issuer: string | null;
  directory: string | null;
  not_before: number | null;
  not_after: number | null;
  renew_at: number | null;
  last_error: string | null;
  last_error_at: number | null;
  retry_at: number | null;
  failures: Generated<number>;
  renew_requested_at: number | null;
  updated_at: number;
}

export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: number;
}

export interface BudgetHoldsTable {
  instance: string;
  scope: string;
  period: string;
  tokens: number;
  micros: number;
}

export interface Database {
  users: UsersTable;
  upstream_keys: UpstreamKeysTable;
  tokens: TokensTable;
  secrets: SecretsTable;
  master_keys: MasterKeysTable;
  usage: UsageTable;
  budget_counters: BudgetCountersTable;
  audit_log: AuditLogTable;
  audit_head: { id: number; seq: number; hash: string; mac: Generated<string> };
  tls_certificates: TlsCertificatesTable;
  leases: LeasesTable;
  acme_challenges: { token: string; key_authorization: string; expires_at: number };
  instances: { id: string; heartbeat_at: number };
  budget_holds: BudgetHoldsTable;
}
