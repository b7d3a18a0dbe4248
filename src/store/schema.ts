import type { Generated } from 'kysely';

/** Table shapes shared by every SQL store (column names in snake_case; times in epoch ms). */
export interface UsersTable {
  id: string;
  email: string;
  status: string;
  created_at: number;
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

export interface ChangeLogTable {
  id: Generated<number>;
}

export interface Database {
  users: UsersTable;
  upstream_keys: UpstreamKeysTable;
  tokens: TokensTable;
  secrets: SecretsTable;
  master_keys: MasterKeysTable;
}
