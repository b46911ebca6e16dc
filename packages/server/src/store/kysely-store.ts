import {
  type AuditEvent,
  type AuditQuery,
  type DeniedToken,
  type NewSession,
  type NewUser,
  type RefreshTokenRecord,
  type RevocationSnapshot,
  type RotationOutcome,
  type RotationRequest,
  SelloError,
  type SessionRecord,
  type Store,
  type StoredKey,
  type StoredKeyState,
  type UserQuery,
  type UserRecord,
} from "@sello/core";
import {
  type Insertable,
  type Kysely,
  Migrator,
  type Selectable,
  sql,
  type Transaction,
} from "kysely";
import { migrationProvider } from "./migrations.js";
import type {
  AuditEventsTable,
  Database,
  RefreshTokensTable,
  SessionsTable,
  SigningKeysTable,
  UsersTable,
} from "./schema.js";

/** Error classification that each dialect's driver provides to the store. */
export interface DialectErrors {
  /** The database cannot be reached or used right now (as opposed to a bug in a query). */
  isUnavailable(error: unknown): boolean;
  /** A unique constraint rejected the row. */
  isUniqueViolation(error: unknown): boolean;
}

/** Dialect-specific settings for {@link KyselyStore}. */
export interface KyselyStoreOptions {
  /**
   * The PostgreSQL schema that contains Kysely's migration tables. Without it, Kysely's migrator
   * treats a `kysely_migration` table in any schema of the database as its own. Default none.
   */
  migrationTableSchema?: string;
}

/**
 * The {@link Store} on Kysely. SQLite and PostgreSQL share every query and migration here; the
 * dialect-specific parts (connection, pragmas, error codes) live in their own modules.
 */
export class KyselyStore implements Store {
  readonly db: Kysely<Database>;
  readonly #errors: DialectErrors;
  readonly #migrationTableSchema: string | undefined;

  constructor(db: Kysely<Database>, errors: DialectErrors, options: KyselyStoreOptions = {}) {
    this.db = db;
    this.#errors = errors;
    this.#migrationTableSchema = options.migrationTableSchema;
  }

  async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db,
      provider: migrationProvider,
      ...(this.#migrationTableSchema === undefined
        ? {}
        : { migrationTableSchema: this.#migrationTableSchema }),
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error !== undefined) {
      const failed = results?.find((result) => result.status === "Error");
      throw new Error(`Database migration ${failed?.migrationName ?? "(unknown)"} failed.`, {
        cause: error,
      });
    }
  }

  async ping(): Promise<void> {
    await this.#run(() => this.db.selectFrom("users").select("id").limit(1).execute());
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  // Users

  async createUser(user: NewUser): Promise<UserRecord> {
    const row: Selectable<UsersTable> = {
      id: user.id,
      username: user.username,
      password_hash: user.passwordHash,
      roles: JSON.stringify(user.roles),
      disabled: 0,
      created_at: user.createdAt,
      updated_at: user.createdAt,
      revoked_before: null,
    };
    try {
      await this.db.insertInto("users").values(row).execute();
    } catch (error) {
      if (this.#errors.isUniqueViolation(error)) {
        throw new SelloError("username_taken", { cause: error });
      }
      throw this.#translate(error);
    }
    return toUser(row);
  }

  async findUserById(id: string): Promise<UserRecord | undefined> {
    const row = await this.#run(() =>
      this.db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst(),
    );
    return row === undefined ? undefined : toUser(row);
  }

  async findUserByUsername(username: string): Promise<UserRecord | undefined> {
    const row = await this.#run(() =>
      this.db.selectFrom("users").selectAll().where("username", "=", username).executeTakeFirst(),
    );
    return row === undefined ? undefined : toUser(row);
  }

  async listUsers(query: UserQuery = {}): Promise<UserRecord[]> {
    let builder = this.db.selectFrom("users").selectAll().orderBy("username");
    if (query.search !== undefined && query.search !== "") {
      const pattern = `%${escapeLike(query.search)}%`;
      builder = builder.where(sql<boolean>`username like ${pattern} escape '\\'`);
    }
    if (query.after !== undefined) {
      builder = builder.where("username", ">", query.after);
    }
    const rows = await this.#run(() => builder.limit(clampLimit(query.limit)).execute());
    return rows.map(toUser);
  }

  async countUsers(): Promise<number> {
    const row = await this.#run(() =>
      this.db
        .selectFrom("users")
        .select((eb) => eb.fn.countAll<number | string>().as("count"))
        .executeTakeFirstOrThrow(),
    );
    return Number(row.count);
  }

  async updatePasswordHash(userId: string, passwordHash: string, now: number): Promise<void> {
    await this.#run(() =>
      this.db
        .updateTable("users")
        .set({ password_hash: passwordHash, updated_at: now })
        .where("id", "=", userId)
        .execute(),
    );
  }

  async setRoles(userId: string, roles: string[], now: number): Promise<void> {
    await this.#run(() =>
      this.db
        .updateTable("users")
        .set({ roles: JSON.stringify(roles), updated_at: now })
        .where("id", "=", userId)
        .execute(),
    );
  }

  async setDisabled(userId: string, disabled: boolean, now: number): Promise<void> {
    await this.#run(() =>
      this.db
        .updateTable("users")
        .set({ disabled: disabled ? 1 : 0, updated_at: now })
        .where("id", "=", userId)
        .execute(),
    );
  }

  async setRevokedBefore(userId: string, time: number): Promise<void> {
    await this.#run(() =>
      this.db.updateTable("users").set({ revoked_before: time }).where("id", "=", userId).execute(),
    );
  }

  async deleteUser(userId: string): Promise<boolean> {
    const result = await this.#run(() =>
      this.db.deleteFrom("users").where("id", "=", userId).executeTakeFirst(),
    );
    return Number(result.numDeletedRows) > 0;
  }

  // Sessions and refresh tokens

  async createSession(
    session: NewSession,
    refreshTokenHash: string,
    audit?: AuditEvent,
  ): Promise<SessionRecord> {
    const row: Selectable<SessionsTable> = {
      id: session.id,
      user_id: session.userId,
      client_id: session.clientId,
      created_at: session.createdAt,
      last_used_at: session.createdAt,
      idle_expires_at: session.idleExpiresAt,
      absolute_expires_at: session.absoluteExpiresAt,
      revoked_at: null,
      revoked_reason: null,
      ip: session.ip,
      user_agent: session.userAgent,
    };
    await this.#transaction(async (trx) => {
      await trx.insertInto("sessions").values(row).execute();
      await trx
        .insertInto("refresh_tokens")
        .values({
          hash: refreshTokenHash,
          session_id: session.id,
          created_at: session.createdAt,
          rotated_at: null,
          successor_hash: null,
          sealed_successor: null,
        })
        .execute();
      if (audit !== undefined) {
        await trx.insertInto("audit_events").values(toAuditRow(audit)).execute();
      }
    });
    return toSession(row);
  }

  async findSession(id: string): Promise<SessionRecord | undefined> {
    const row = await this.#run(() =>
      this.db.selectFrom("sessions").selectAll().where("id", "=", id).executeTakeFirst(),
    );
    return row === undefined ? undefined : toSession(row);
  }

  async listSessions(
    userId: string,
    options: { includeRevoked?: boolean } = {},
  ): Promise<SessionRecord[]> {
    let builder = this.db
      .selectFrom("sessions")
      .selectAll()
      .where("user_id", "=", userId)
      .orderBy("created_at", "desc");
    if (options.includeRevoked !== true) {
      builder = builder.where("revoked_at", "is", null);
    }
    const rows = await this.#run(() => builder.execute());
    return rows.map(toSession);
  }

  async findRefreshToken(hash: string): Promise<RefreshTokenRecord | undefined> {
    const row = await this.#run(() =>
      this.db.selectFrom("refresh_tokens").selectAll().where("hash", "=", hash).executeTakeFirst(),
    );
    return row === undefined ? undefined : toRefreshToken(row);
  }

  async rotateRefreshToken(request: RotationRequest): Promise<RotationOutcome> {
    const claimed = await this.claimRotation(request);
    if (claimed !== undefined) {
      return { kind: "rotated", ...claimed };
    }
    return this.#rotateInTransaction(request);
  }

  /**
   * The common case of a rotation in as few statements as the dialect allows: when the presented
   * token is current and its session live, rotates it and returns the session and user, all
   * atomically. Returns undefined when it rotated nothing (an unknown or already rotated token,
   * an ended session), and {@link rotateRefreshToken} then finds out why in a transaction that
   * also rotates when a race made that possible again. The default claims nothing.
   */
  protected async claimRotation(
    _request: RotationRequest,
  ): Promise<{ session: SessionRecord; user: UserRecord | undefined } | undefined> {
    return undefined;
  }

  async #rotateInTransaction(request: RotationRequest): Promise<RotationOutcome> {
    return this.#transaction(async (trx) => {
      const token = await trx
        .selectFrom("refresh_tokens")
        .selectAll()
        .where("hash", "=", request.presentedHash)
        .executeTakeFirst();
      if (token === undefined) {
        return { kind: "unknown" };
      }
      const session = await trx
        .selectFrom("sessions")
        .selectAll()
        .where("id", "=", token.session_id)
        .executeTakeFirstOrThrow();

      if (!isSessionLive(session, request.now)) {
        return { kind: "session_ended", session: toSession(session) };
      }
      if (token.rotated_at !== null) {
        return {
          kind: "already_rotated",
          session: toSession(session),
          token: toRefreshToken(token),
        };
      }

      // The condition on rotated_at makes the exchange atomic: of two transactions racing on one
      // token, the second updates no row (PostgreSQL re-checks the row after the first commits).
      const claimed = await trx
        .updateTable("refresh_tokens")
        .set({
          rotated_at: request.now,
          successor_hash: request.successorHash,
          sealed_successor: request.sealedSuccessor,
        })
        .where("hash", "=", request.presentedHash)
        .where("rotated_at", "is", null)
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) === 0) {
        const current = await trx
          .selectFrom("refresh_tokens")
          .selectAll()
          .where("hash", "=", request.presentedHash)
          .executeTakeFirstOrThrow();
        return {
          kind: "already_rotated",
          session: toSession(session),
          token: toRefreshToken(current),
        };
      }

      await trx
        .insertInto("refresh_tokens")
        .values({
          hash: request.successorHash,
          session_id: session.id,
          created_at: request.now,
          rotated_at: null,
          successor_hash: null,
          sealed_successor: null,
        })
        .execute();
      const idleExpiresAt = Math.min(request.idleExpiresAt, session.absolute_expires_at);
      await trx
        .updateTable("sessions")
        .set({ last_used_at: request.now, idle_expires_at: idleExpiresAt })
        .where("id", "=", session.id)
        .execute();
      const user = await trx
        .selectFrom("users")
        .selectAll()
        .where("id", "=", session.user_id)
        .executeTakeFirst();

      return {
        kind: "rotated",
        session: toSession({
          ...session,
          last_used_at: request.now,
          idle_expires_at: idleExpiresAt,
        }),
        user: user === undefined ? undefined : toUser(user),
      };
    });
  }

  async revokeSession(sessionId: string, reason: string, now: number): Promise<boolean> {
    const result = await this.#run(() =>
      this.db
        .updateTable("sessions")
        .set({ revoked_at: now, revoked_reason: reason })
        .where("id", "=", sessionId)
        .where("revoked_at", "is", null)
        .executeTakeFirst(),
    );
    return Number(result.numUpdatedRows) > 0;
  }

  async revokeUserSessions(
    userId: string,
    reason: string,
    now: number,
    exceptSessionId?: string,
  ): Promise<string[]> {
    return this.#transaction(async (trx) => {
      let live = trx
        .selectFrom("sessions")
        .select("id")
        .where("user_id", "=", userId)
        .where("revoked_at", "is", null);
      if (exceptSessionId !== undefined) {
        live = live.where("id", "!=", exceptSessionId);
      }
      const ids = (await live.execute()).map((row) => row.id);
      if (ids.length > 0) {
        await trx
          .updateTable("sessions")
          .set({ revoked_at: now, revoked_reason: reason })
          .where("id", "in", ids)
          .where("revoked_at", "is", null)
          .execute();
      }
      return ids;
    });
  }

  // Revocation

  async denyToken(token: DeniedToken): Promise<void> {
    await this.#run(() =>
      this.db
        .insertInto("denied_tokens")
        .values({ jti: token.jti, expires_at: token.expiresAt, created_at: Date.now() })
        .onConflict((conflict) => conflict.column("jti").doNothing())
        .execute(),
    );
  }

  async loadRevocations(since: number): Promise<RevocationSnapshot> {
    const [denied, sessions, users] = await this.#run(() =>
      Promise.all([
        this.db
          .selectFrom("denied_tokens")
          .select(["jti", "expires_at"])
          .where("expires_at", ">", since)
          .execute(),
        this.db
          .selectFrom("sessions")
          .select(["id", "revoked_at"])
          .where("revoked_at", ">=", since)
          .execute(),
        this.db
          .selectFrom("users")
          .select(["id", "revoked_before"])
          .where("revoked_before", ">=", since)
          .execute(),
      ]),
    );
    return {
      deniedTokens: denied.map((row) => ({ jti: row.jti, expiresAt: Number(row.expires_at) })),
      revokedSessions: sessions.map((row) => ({
        sessionId: row.id,
        revokedAt: Number(row.revoked_at),
      })),
      userRevocations: users.map((row) => ({
        userId: row.id,
        revokedBefore: Number(row.revoked_before),
      })),
    };
  }

  async purgeExpired(before: number): Promise<number> {
    return this.#transaction(async (trx) => {
      const denied = await trx
        .deleteFrom("denied_tokens")
        .where("expires_at", "<=", before)
        .executeTakeFirst();
      const sessions = await trx
        .deleteFrom("sessions")
        .where((eb) =>
          eb.or([
            eb("revoked_at", "<=", before),
            eb("idle_expires_at", "<=", before),
            eb("absolute_expires_at", "<=", before),
          ]),
        )
        .executeTakeFirst();
      return Number(denied.numDeletedRows) + Number(sessions.numDeletedRows);
    });
  }

  // Signing keys

  async listKeys(): Promise<StoredKey[]> {
    const rows = await this.#run(() =>
      this.db.selectFrom("signing_keys").selectAll().orderBy("created_at").execute(),
    );
    return rows.map(toStoredKey);
  }

  async saveKey(key: StoredKey): Promise<void> {
    await this.#run(() => this.db.insertInto("signing_keys").values(fromStoredKey(key)).execute());
  }

  async updateKeys(keys: StoredKey[]): Promise<void> {
    await this.#transaction(async (trx) => {
      for (const key of keys) {
        const row = fromStoredKey(key);
        await trx
          .insertInto("signing_keys")
          .values(row)
          .onConflict((conflict) =>
            conflict.column("kid").doUpdateSet({
              state: row.state,
              activated_at: row.activated_at,
              retired_at: row.retired_at,
              verify_until: row.verify_until,
            }),
          )
          .execute();
      }
    });
  }

  async deleteKey(kid: string): Promise<void> {
    await this.#run(() => this.db.deleteFrom("signing_keys").where("kid", "=", kid).execute());
  }

  // Audit

  async appendAudit(event: AuditEvent): Promise<void> {
    await this.#run(() => this.db.insertInto("audit_events").values(toAuditRow(event)).execute());
  }

  async listAudit(query: AuditQuery = {}): Promise<AuditEvent[]> {
    let builder = this.db.selectFrom("audit_events").selectAll().orderBy("id", "desc");
    if (query.userId !== undefined) builder = builder.where("user_id", "=", query.userId);
    if (query.type !== undefined) builder = builder.where("type", "=", query.type);
    if (query.since !== undefined) builder = builder.where("time", ">=", query.since);
    if (query.until !== undefined) builder = builder.where("time", "<", query.until);
    if (query.before !== undefined) builder = builder.where("id", "<", query.before);
    const rows = await this.#run(() => builder.limit(clampLimit(query.limit)).execute());
    return rows.map(toAuditEvent);
  }

  // Error mapping

  async #run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw this.#translate(error);
    }
  }

  async #transaction<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction().execute(work);
    } catch (error) {
      throw this.#translate(error);
    }
  }

  /** Turns a driver error that means the database is unavailable into `service_unavailable`. */
  protected translateError(error: unknown): unknown {
    return this.#translate(error);
  }

  #translate(error: unknown): unknown {
    if (this.#errors.isUnavailable(error)) {
      return new SelloError("service_unavailable", { reason: "store_unavailable", cause: error });
    }
    return error;
  }
}

/** Reports whether a session row is neither revoked nor past its lifetimes at `now`. */
function isSessionLive(session: Selectable<SessionsTable>, now: number): boolean {
  return (
    session.revoked_at === null &&
    now < Number(session.idle_expires_at) &&
    now < Number(session.absolute_expires_at)
  );
}

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || !Number.isFinite(limit)) return 100;
  return Math.min(Math.max(Math.trunc(limit), 1), 1000);
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

function nullableNumber(value: number | string | null): number | null {
  return value === null ? null : Number(value);
}

export function toUser(row: Selectable<UsersTable>): UserRecord {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    roles: JSON.parse(row.roles) as string[],
    disabled: Number(row.disabled) === 1,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    revokedBefore: nullableNumber(row.revoked_before),
  };
}

export function toSession(row: Selectable<SessionsTable>): SessionRecord {
  return {
    id: row.id,
    userId: row.user_id,
    clientId: row.client_id,
    createdAt: Number(row.created_at),
    lastUsedAt: Number(row.last_used_at),
    idleExpiresAt: Number(row.idle_expires_at),
    absoluteExpiresAt: Number(row.absolute_expires_at),
    revokedAt: nullableNumber(row.revoked_at),
    revokedReason: row.revoked_reason,
    ip: row.ip,
    userAgent: row.user_agent,
  };
}

function toRefreshToken(row: Selectable<RefreshTokensTable>): RefreshTokenRecord {
  return {
    hash: row.hash,
    sessionId: row.session_id,
    createdAt: Number(row.created_at),
    rotatedAt: nullableNumber(row.rotated_at),
    successorHash: row.successor_hash,
    sealedSuccessor: row.sealed_successor,
  };
}

function toStoredKey(row: Selectable<SigningKeysTable>): StoredKey {
  return {
    kid: row.kid,
    alg: row.alg,
    state: row.state as StoredKeyState,
    sealedPrivateKey: row.sealed_private_key,
    createdAt: Number(row.created_at),
    activatedAt: nullableNumber(row.activated_at),
    retiredAt: nullableNumber(row.retired_at),
    verifyUntil: nullableNumber(row.verify_until),
  };
}

function fromStoredKey(key: StoredKey): Selectable<SigningKeysTable> {
  return {
    kid: key.kid,
    alg: key.alg,
    state: key.state,
    sealed_private_key: key.sealedPrivateKey,
    created_at: key.createdAt,
    activated_at: key.activatedAt,
    retired_at: key.retiredAt,
    verify_until: key.verifyUntil,
  };
}

function toAuditEvent(row: Selectable<AuditEventsTable>): AuditEvent {
  return {
    id: row.id,
    time: Number(row.time),
    type: row.type,
    userId: row.user_id,
    sessionId: row.session_id,
    ip: row.ip,
    userAgent: row.user_agent,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
  };
}

function toAuditRow(event: AuditEvent): Insertable<AuditEventsTable> {
  return {
    id: event.id,
    time: event.time,
    type: event.type,
    user_id: event.userId,
    session_id: event.sessionId,
    ip: event.ip,
    user_agent: event.userAgent,
    detail: JSON.stringify(event.detail),
  };
}
