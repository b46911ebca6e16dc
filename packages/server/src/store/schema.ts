/** Table shapes as Kysely types them. Times are integers of milliseconds since the epoch. */

export interface UsersTable {
  id: string;
  username: string;
  password_hash: string;
  /** JSON array of role names. */
  roles: string;
  /** 0 or 1: both SQLite and PostgreSQL store it as an integer, so queries stay portable. */
  disabled: number;
  created_at: number;
  updated_at: number;
  revoked_before: number | null;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  client_id: string;
  created_at: number;
  last_used_at: number;
  idle_expires_at: number;
  absolute_expires_at: number;
  revoked_at: number | null;
  revoked_reason: string | null;
  ip: string | null;
  user_agent: string | null;
}

export interface RefreshTokensTable {
  hash: string;
  session_id: string;
  created_at: number;
  rotated_at: number | null;
  successor_hash: string | null;
  sealed_successor: string | null;
}

export interface DeniedTokensTable {
  jti: string;
  expires_at: number;
  created_at: number;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  state: string;
  sealed_private_key: string;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
  verify_until: number | null;
}

export interface AuditEventsTable {
  id: string;
  time: number;
  type: string;
  user_id: string | null;
  session_id: string | null;
  ip: string | null;
  user_agent: string | null;
  /** JSON object. */
  detail: string;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  refresh_tokens: RefreshTokensTable;
  denied_tokens: DeniedTokensTable;
  signing_keys: SigningKeysTable;
  audit_events: AuditEventsTable;
}
