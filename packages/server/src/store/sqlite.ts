import { chmodSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, SqliteDialect } from "kysely";
import { type DialectErrors, KyselyStore } from "./kysely-store.js";
import type { Database } from "./schema.js";

/** SQLite result codes that mean the file cannot be used right now, not that a query is wrong. */
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|NOTADB|CORRUPT)/;

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

  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
  return new KyselyStore(db, sqliteErrors);
}
