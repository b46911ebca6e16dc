import { chmodSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { Worker } from "node:worker_threads";
import type { RotationRequest, SessionRecord, UserRecord } from "@sello/core";
import BetterSqlite3 from "better-sqlite3";
import { type Kysely, Kysely as KyselyClient, type SqliteDatabase, SqliteDialect } from "kysely";
import { type DialectErrors, KyselyStore, toSession, toUser } from "./kysely-store.js";
import type { Database } from "./schema.js";

/** SQLite result codes that mean the file cannot be used right now, not that a query is wrong. */
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|NOTADB|CORRUPT)/;

/**
 * How many prepared statements the connection keeps. Kysely sends the same SQL text for every
 * run of one query shape, so this keeps every statement of the store with room to spare. Only
 * `in (…)` lists of varying length make new texts, and the oldest statement is then dropped.
 */
const STATEMENT_CACHE_SIZE = 256;

/**
 * The WAL size, in pages, at which a commit on the main connection checkpoints by itself. With
 * background checkpoints this is only a bound in case the checkpoint thread falls behind or
 * stops: SQLite's default is 1,000 pages (about 4 MiB).
 */
const FALLBACK_AUTOCHECKPOINT_PAGES = 10_000;

/** How often the checkpoint thread copies committed WAL pages into the database file. */
const CHECKPOINT_INTERVAL_MS = 50;

/** How long closing waits for the checkpoint thread to close its connection. */
const CHECKPOINT_CLOSE_TIMEOUT_MS = 2_000;

/**
 * The checkpoint thread, run as a CommonJS script (`eval: true`) so that it loads the same way
 * from the TypeScript sources and from the built package. It opens its own connection and runs
 * PASSIVE checkpoints, which wait for no reader or writer, so most of the copying and its fsync
 * happen on this thread instead of inside a commit on the event loop. A checkpoint that finds the
 * database busy is tried again at the next interval.
 */
const CHECKPOINT_WORKER_SOURCE = `
"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driverPath);
const database = new Database(workerData.path, { fileMustExist: true });
const timer = setInterval(() => {
  try {
    database.pragma("wal_checkpoint(PASSIVE)");
  } catch {
    // SQLITE_BUSY while another checkpoint runs: the next interval tries again.
  }
}, workerData.intervalMs);
parentPort.on("message", () => {
  clearInterval(timer);
  database.close();
  parentPort.close();
});
`;

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

/** Settings for {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * Copies committed pages from the WAL into the database file on a thread of its own, instead
   * of inside the commit that fills the WAL past SQLite's threshold. That commit would otherwise
   * block the event loop for the copy and an fsync. Meant for a long-running server; a
   * short-lived command does not need the thread. Ignored for `:memory:`. Default false.
   */
  backgroundCheckpoints?: boolean;
  /**
   * Receives the error of a checkpoint thread that failed. The main connection then checkpoints
   * by itself again, so the store keeps working. Default: the error is dropped.
   */
  onCheckpointError?: (error: Error) => void;
}

/**
 * Opens (creating when missing) a SQLite store at `path`, or an in-memory one for `:memory:`.
 * The database runs in WAL mode with `synchronous = NORMAL`: a committed transaction survives the
 * process being killed, and only an operating-system crash can lose the last commits.
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): KyselyStore {
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

  let checkpointer: Worker | undefined;
  if (options.backgroundCheckpoints === true && path !== ":memory:") {
    database.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
    checkpointer = startCheckpointer(path, options.onCheckpointError);
  }

  const db = new KyselyClient<Database>({
    dialect: new SqliteDialect({ database: withStatementCache(database) }),
  });
  return new SqliteStore(db, database, checkpointer);
}

function startCheckpointer(path: string, onError?: (error: Error) => void): Worker {
  const workerData = {
    driverPath: createRequire(import.meta.url).resolve("better-sqlite3"),
    path,
    intervalMs: CHECKPOINT_INTERVAL_MS,
  };
  // execArgv is empty so that loaders of the parent (tsx under the benchmarks) stay out of it.
  const worker = new Worker(CHECKPOINT_WORKER_SOURCE, { eval: true, workerData, execArgv: [] });
  worker.unref();
  // A thread that fails leaves the WAL to the main connection's own checkpoints, bounded by
  // FALLBACK_AUTOCHECKPOINT_PAGES, so the error only needs reporting.
  worker.on("error", (error) => onError?.(error));
  return worker;
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
      // A hit leaves the Map untouched: deleting and re-adding a key on every hit would make its
      // lookups slower until the Map next rehashes.
      let statement = statements.get(sql);
      if (statement === undefined) {
        statement = database.prepare(sql);
        if (statements.size >= STATEMENT_CACHE_SIZE) {
          statements.delete(statements.keys().next().value as string);
        }
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}

type RotationResult = { session: SessionRecord; user: UserRecord | undefined } | undefined;

/** The SQLite store: the Kysely store, with the refresh rotation as one synchronous transaction. */
class SqliteStore extends KyselyStore {
  readonly #database: BetterSqlite3.Database;
  readonly #checkpointer: Worker | undefined;
  #rotate: ((request: RotationRequest) => RotationResult) | undefined;

  constructor(db: Kysely<Database>, database: BetterSqlite3.Database, checkpointer?: Worker) {
    super(db, sqliteErrors);
    this.#database = database;
    this.#checkpointer = checkpointer;
  }

  override async close(): Promise<void> {
    // The checkpoint thread closes its connection first, so that the main connection is the
    // last one and its close checkpoints the whole WAL and removes the file.
    const worker = this.#checkpointer;
    if (worker !== undefined) {
      const exited = new Promise<void>((resolve) => {
        worker.once("exit", () => resolve());
      });
      worker.postMessage("close");
      const timeout = setTimeout(() => void worker.terminate(), CHECKPOINT_CLOSE_TIMEOUT_MS);
      await exited;
      clearTimeout(timeout);
    }
    await super.close();
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
