import { chmodSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { RotationRequest, SessionRecord, UserRecord } from "@sello/core";
import BetterSqlite3 from "better-sqlite3";
import { type Kysely, Kysely as KyselyClient, type SqliteDatabase, SqliteDialect } from "kysely";
import { type DialectErrors, KyselyStore, toSession, toUser } from "./kysely-store.js";
import type { Database } from "./schema.js";

/** SQLite result codes that mean the file cannot be used right now, not that a query is wrong. */
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|NOTADB|CORRUPT)/;

/**
 * How many prepared statements the connection keeps. Kysely sends the same SQL text for every
 * run of one query shape, so this holds every statement of the store with room to spare; only
 * `in (…)` lists of varying length make new texts, and the least recently used is dropped.
 */
const STATEMENT_CACHE_SIZE = 256;

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

const sqliteErrors: DialectErrors = {
  isUnavailable: (error) => UNAVAILABLE_CODES.test(errorCode(error)),
  isUniqueViolation: (error) =>
    errorCode(error) === "SQLITE_CONSTRAINT_UNIQUE" ||
    errorCode(error) === "SQLITE_CONSTRAINT_PRIMARYKEY",
};

/**
 * Opens (creating when missing) a SQLite store at `path`, or an in-memory one for `:memory:`.
 * The database runs in WAL mode with `synchronous = NORMAL`: a committed transaction survives the
 * process being killed, and only an operating-system crash can lose the last commits.
 */
export function openSqliteStore(path: string): KyselyStore {
  if (path !== ":memory:") {
    const folder = dirname(path);
    mkdirSync(folder, { recursive: true, mode: 0o700 });
  }

  const database = new BetterSqlite3(path);
  database.pragma("journal_mode = WAL");
  database.pragma("synchronous = NORMAL");
  database.pragma("foreign_keys = ON");
  database.pragma("busy_timeout = 5000");
  if (path !== ":memory:") {
    chmodSync(path, 0o600);
  }

  const db = new KyselyClient<Database>({
    dialect: new SqliteDialect({ database: withStatementCache(database) }),
  });
  return new SqliteStore(db, database);
}

/**
 * Gives Kysely a view of the connection that reuses prepared statements. Without it, every query
 * compiles its SQL again, which costs more than running it.
 */
function withStatementCache(database: BetterSqlite3.Database): SqliteDatabase {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => database.close(),
    prepare(sql) {
      let statement = statements.get(sql);
      if (statement !== undefined) {
        // Map keeps insertion order; moving the entry to the end makes the first the oldest.
        statements.delete(sql);
      } else {
        statement = database.prepare(sql);
        if (statements.size >= STATEMENT_CACHE_SIZE) {
          statements.delete(statements.keys().next().value as string);
        }
      }
      statements.set(sql, statement);
      return statement;
    },
  };
}

type RotationResult = { session: SessionRecord; user: UserRecord | undefined } | undefined;

/** The SQLite store: the Kysely store, with the refresh rotation as one synchronous transaction. */
class SqliteStore extends KyselyStore {
  readonly #database: BetterSqlite3.Database;
  #rotate: ((request: RotationRequest) => RotationResult) | undefined;

  constructor(db: Kysely<Database>, database: BetterSqlite3.Database) {
    super(db, sqliteErrors);
    this.#database = database;
  }

  protected override async claimRotation(request: RotationRequest): Promise<RotationResult> {
    // Kysely holds a lock on the single connection for the length of each query and transaction.
    // Running inside connection() waits for that lock, so these statements never become part of
    // a transaction that Kysely has open.
    return this.db.connection().execute(async () => {
      try {
        this.#rotate ??= this.#prepareRotation();
        return this.#rotate(request);
      } catch (error) {
        throw this.translateError(error);
      }
    });
  }

  /** Prepares the rotation statements; called on first use, after the migrations have run. */
  #prepareRotation(): (request: RotationRequest) => RotationResult {
    const database = this.#database;
    const claim = database.prepare<[Record<string, unknown>], { session_id: string }>(
      `update refresh_tokens
          set rotated_at = @now, successor_hash = @successor, sealed_successor = @sealed
        where hash = @presented and rotated_at is null
          and exists (select 1 from sessions
                       where sessions.id = refresh_tokens.session_id and revoked_at is null
                         and idle_expires_at > @now and absolute_expires_at > @now)
        returning session_id`,
    );
    const insert = database.prepare(
      `insert into refresh_tokens (hash, session_id, created_at) values (@successor, @session, @now)`,
    );
    const touch = database.prepare<[Record<string, unknown>], Parameters<typeof toSession>[0]>(
      `update sessions set last_used_at = @now, idle_expires_at = min(@idle, absolute_expires_at)
        where id = @session returning *`,
    );
    const user = database.prepare<[string], Parameters<typeof toUser>[0]>(
      "select * from users where id = ?",
    );

    return database.transaction((request: RotationRequest): RotationResult => {
      const parameters: Record<string, unknown> = {
        now: request.now,
        presented: request.presentedHash,
        successor: request.successorHash,
        sealed: request.sealedSuccessor,
        idle: request.idleExpiresAt,
      };
      const claimed = claim.get(parameters);
      if (claimed === undefined) {
        return undefined;
      }
      parameters.session = claimed.session_id;
      insert.run(parameters);
      const session = touch.get(parameters);
      if (session === undefined) {
        throw new Error("The session of a refresh token disappeared inside a transaction.");
      }
      const owner = user.get(session.user_id);
      return { session: toSession(session), user: owner === undefined ? undefined : toUser(owner) };
    });
  }
}
