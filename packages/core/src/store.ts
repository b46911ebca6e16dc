/**
 * The storage interface every Sello store implements (SQLite and PostgreSQL in the server).
 * Times are milliseconds since the epoch. Methods throw `SelloError("service_unavailable")` when
 * the database cannot be reached, and never return half-written state: every method that writes
 * more than one row runs in one transaction.
 */

export interface UserRecord {
  id: string;
  /** The normalised username (NFKC, case-folded), unique. */
  username: string;
  passwordHash: string;
  roles: string[];
  disabled: boolean;
  createdAt: number;
  updatedAt: number;
  /** Access tokens of this user issued before this time are revoked; null when never set. */
  revokedBefore: number | null;
}

export interface NewUser {
  id: string;
  username: string;
  passwordHash: string;
  roles: string[];
  createdAt: number;
}

/** A session: one refresh-token family, from login to logout or expiry. */
export interface SessionRecord {
  id: string;
  userId: string;
  clientId: string;
  createdAt: number;
  lastUsedAt: number;
  /** The session ends when not refreshed before this time; each rotation moves it forward. */
  idleExpiresAt: number;
  /** The session ends at this time whatever its use. */
  absoluteExpiresAt: number;
  revokedAt: number | null;
  revokedReason: string | null;
  ip: string | null;
  userAgent: string | null;
}

export interface NewSession {
  id: string;
  userId: string;
  clientId: string;
  createdAt: number;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
  ip: string | null;
  userAgent: string | null;
}

/** A refresh token, stored only as the SHA-256 hash of its value. */
export interface RefreshTokenRecord {
  hash: string;
  sessionId: string;
  createdAt: number;
  /** When the token was exchanged for its successor; null while it is the family's current token. */
  rotatedAt: number | null;
  successorHash: string | null;
  /**
   * The successor's value, encrypted under a key derived from this token's value, so only a
   * caller presenting this token can read it again during the grace window.
   */
  sealedSuccessor: string | null;
}

/**
 * What a rotation attempt found; the caller decides what each outcome means.
 * - `rotated`: the presented token was current and now has its successor. `user` is the session's
 *   user as stored at the rotation, read in the same transaction. It is undefined only when the
 *   user no longer exists.
 * - `already_rotated`: the presented token had been exchanged before (a retry, a race, or reuse).
 * - `session_ended`: the session is revoked or past its idle or absolute lifetime.
 * - `unknown`: no refresh token has this hash.
 */
export type RotationOutcome =
  | { kind: "rotated"; session: SessionRecord; user: UserRecord | undefined }
  | { kind: "already_rotated"; session: SessionRecord; token: RefreshTokenRecord }
  | { kind: "session_ended"; session: SessionRecord }
  | { kind: "unknown" };

export interface RotationRequest {
  presentedHash: string;
  successorHash: string;
  sealedSuccessor: string;
  now: number;
  /** The session's new idle expiry, when the rotation succeeds. */
  idleExpiresAt: number;
}

export interface DeniedToken {
  jti: string;
  /** The token's own expiry; the entry is useless afterwards and may be purged. */
  expiresAt: number;
}

export type StoredKeyState = "next" | "current" | "retired";

/** A signing key as stored: the private key is encrypted with the key-encryption key. */
export interface StoredKey {
  kid: string;
  alg: string;
  state: StoredKeyState;
  sealedPrivateKey: string;
  createdAt: number;
  activatedAt: number | null;
  retiredAt: number | null;
  verifyUntil: number | null;
}

export interface AuditEvent {
  id: string;
  time: number;
  /** A dotted event name such as `login.success` or `refresh.reused`. */
  type: string;
  userId: string | null;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
  detail: Record<string, unknown>;
}

export interface AuditQuery {
  userId?: string;
  type?: string;
  since?: number;
  until?: number;
  /** Maximum number of events, newest first. Default 100. */
  limit?: number;
  /** Return only events strictly older than this event id's position (cursor pagination). */
  before?: string;
}

export interface UserQuery {
  /** Substring of the normalised username. */
  search?: string;
  limit?: number;
  /** Return only users whose username sorts after this one (cursor pagination). */
  after?: string;
}

/** Revocations still able to affect an unexpired access token, for rebuilding a revocation list. */
export interface RevocationSnapshot {
  deniedTokens: DeniedToken[];
  revokedSessions: { sessionId: string; revokedAt: number }[];
  userRevocations: { userId: string; revokedBefore: number }[];
}

export interface Store {
  /** Creates or upgrades the schema. Safe to run on every start. */
  migrate(): Promise<void>;
  /** Checks that the database responds. */
  ping(): Promise<void>;
  close(): Promise<void>;

  createUser(user: NewUser): Promise<UserRecord>;
  findUserById(id: string): Promise<UserRecord | undefined>;
  findUserByUsername(username: string): Promise<UserRecord | undefined>;
  listUsers(query?: UserQuery): Promise<UserRecord[]>;
  countUsers(): Promise<number>;
  updatePasswordHash(userId: string, passwordHash: string, now: number): Promise<void>;
  setRoles(userId: string, roles: string[], now: number): Promise<void>;
  setDisabled(userId: string, disabled: boolean, now: number): Promise<void>;
  setRevokedBefore(userId: string, time: number): Promise<void>;
  deleteUser(userId: string): Promise<boolean>;

  /**
   * Creates a session and its first refresh token in one transaction. With `audit`, the event is
   * appended in the same transaction, so the session and its audit event are stored together or
   * not at all.
   */
  createSession(
    session: NewSession,
    refreshTokenHash: string,
    audit?: AuditEvent,
  ): Promise<SessionRecord>;
  findSession(id: string): Promise<SessionRecord | undefined>;
  listSessions(userId: string, options?: { includeRevoked?: boolean }): Promise<SessionRecord[]>;
  findRefreshToken(hash: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * Exchanges the presented refresh token for its successor in one transaction, if it is still
   * the family's current token and its session is live at `now`. Of two callers racing on one
   * token, exactly one gets `rotated` and the other `already_rotated`.
   */
  rotateRefreshToken(request: RotationRequest): Promise<RotationOutcome>;
  /** Revokes one session; returns false when it was already revoked or does not exist. */
  revokeSession(sessionId: string, reason: string, now: number): Promise<boolean>;
  /** Revokes every live session of a user, except one if given; returns the revoked ids. */
  revokeUserSessions(
    userId: string,
    reason: string,
    now: number,
    exceptSessionId?: string,
  ): Promise<string[]>;

  denyToken(token: DeniedToken): Promise<void>;
  /** Revocations recorded after `since` that can still matter. */
  loadRevocations(since: number): Promise<RevocationSnapshot>;
  /** Deletes expired denied tokens and sessions ended before `before`; returns rows removed. */
  purgeExpired(before: number): Promise<number>;

  listKeys(): Promise<StoredKey[]>;
  saveKey(key: StoredKey): Promise<void>;
  /** Replaces the whole ring's states in one transaction (used by rotation). */
  updateKeys(keys: StoredKey[]): Promise<void>;
  deleteKey(kid: string): Promise<void>;

  appendAudit(event: AuditEvent): Promise<void>;
  listAudit(query?: AuditQuery): Promise<AuditEvent[]>;
}
