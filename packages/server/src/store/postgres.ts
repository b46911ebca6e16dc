import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { type DialectErrors, KyselyStore } from "./kysely-store.js";
import type { Database } from "./schema.js";

/** Settings for {@link openPostgresStore}. */
export interface PostgresStoreOptions {
  /**
   * The schema that contains Sello's tables. Every connection gets `search_path` set to it, and
   * `migrate()` creates it when missing. Lowercase letters, digits and `_`, at most 63
   * characters, not starting with a digit. Default `public`.
   */
  schema?: string;
  /** The maximum number of pooled connections. Default 10. */
  max?: number;
  /** The `application_name` of each connection, shown in `pg_stat_activity`. Default `sello`. */
  applicationName?: string;
  /**
   * Milliseconds to wait for a new connection, or for a free pooled one when all `max` are in
   * use, before the call fails with `service_unavailable`. Default 5,000.
   */
  connectionTimeoutMs?: number;
  /**
   * Receives errors of connections that are not running a query, such as a connection the
   * server terminated while it sat in the pool. The pool drops such a connection and opens a new
   * one on demand. Default: the error is dropped, and the next call that needs the database
   * reports any lasting outage.
   */
  onConnectionError?: (error: Error) => void;
}

/** A schema name that needs no quoting: it reads the same in SQL, in `search_path` and in Kysely. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The type OID of PostgreSQL's `bigint` (`int8`). */
const INT8_OID = 20;

/** Node.js socket and DNS error codes that mean the server cannot be reached. */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/**
 * SQLSTATE codes that mean the server cannot serve the connection right now: admin shutdown,
 * crash shutdown, cannot connect now (starting up or shutting down) and too many connections.
 * Class 08 (connection exception) is matched separately.
 */
const UNAVAILABLE_SQLSTATES = new Set(["57P01", "57P02", "57P03", "53300"]);

/**
 * Messages of errors that node-postgres (pg 8) raises without a code when a connection breaks or
 * the pool cannot provide one in time.
 */
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect$/,
  /is not queryable$/,
  /^Query read timeout$/,
];

/**
 * The PostgreSQL error classification: connection failures and server shutdowns are
 * `unavailable`, and SQLSTATE 23505 is a unique violation.
 */
export const postgresErrors: DialectErrors = {
  isUnavailable: (error) => someCause(error, isUnavailableError),
  isUniqueViolation: (error) => someCause(error, (cause) => errorCode(cause) === "23505"),
};

/**
 * Opens a PostgreSQL store over a connection pool, without connecting yet. `url` is a
 * `postgres://` or `postgresql://` URL. An `options` parameter in the URL is kept and the
 * `search_path` setting is added to it. Call `migrate()` before first use. Throws a TypeError for
 * invalid options.
 */
export function openPostgresStore(url: string, options: PostgresStoreOptions = {}): KyselyStore {
  const schema = options.schema ?? "public";
  if (!SCHEMA_NAME.test(schema)) {
    throw new TypeError(
      `schema must be 1 to 63 lowercase letters, digits or underscores, not starting with a digit; got ${JSON.stringify(schema)}.`,
    );
  }
  const max = validatePositiveInteger(options.max ?? 10, "max");
  const connectionTimeoutMs = validatePositiveInteger(
    options.connectionTimeoutMs ?? 5_000,
    "connectionTimeoutMs",
  );
  const protocol = URL.canParse(url) ? new URL(url).protocol : "";
  if (protocol !== "postgres:" && protocol !== "postgresql:") {
    // The URL is left out of the message because it may contain a password.
    throw new TypeError("url must be a postgres:// URL, such as postgres://user@host:5432/db.");
  }

  // node-postgres lets parameters in the URL override the pool settings, so a URL's own
  // `options` is moved into the setting that carries `search_path`.
  const connectionUrl = new URL(url);
  const urlOptions = connectionUrl.searchParams.get("options");
  connectionUrl.searchParams.delete("options");
  const searchPath = `-c search_path=${schema}`;

  const pool = new pg.Pool({
    connectionString: connectionUrl.href,
    options: urlOptions === null ? searchPath : `${urlOptions} ${searchPath}`,
    application_name: options.applicationName ?? "sello",
    max,
    connectionTimeoutMillis: connectionTimeoutMs,
    keepAlive: true,
    types: { getTypeParser: getTypeParser as typeof pg.types.getTypeParser },
  });

  // A connection that breaks while no query runs on it emits "error". pg-pool handles this for
  // idle connections, but a connection checked out between two queries of a transaction has no
  // listener, and an unhandled "error" event would end the process.
  const reportConnectionError = (error: Error) => {
    options.onConnectionError?.(error);
  };
  pool.on("error", reportConnectionError);
  pool.on("connect", (client) => {
    client.on("error", reportConnectionError);
  });

  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return new PostgresStore(db, pool, schema);
}

/** The Kysely store over a pool, which also ends the pool when Kysely never used it. */
class PostgresStore extends KyselyStore {
  readonly #pool: pg.Pool;

  constructor(db: Kysely<Database>, pool: pg.Pool, schema: string) {
    super(db, postgresErrors, { migrationTableSchema: schema });
    this.#pool = pool;
  }

  override async close(): Promise<void> {
    await super.close();

    // Kysely ends the pool only after a query initialised its driver.
    if (!this.#pool.ending) {
      await this.#pool.end();
    }
  }
}

/**
 * Parses `bigint` columns (millisecond times and counts) as numbers, for this pool's connections
 * only. A value beyond Number.MAX_SAFE_INTEGER stays a string so that no digit is lost silently.
 */
function getTypeParser(oid: number, format?: "text" | "binary"): (value: string) => unknown {
  if (oid === INT8_OID && format !== "binary") {
    return parseInt8;
  }
  return pg.types.getTypeParser(oid, format);
}

function parseInt8(value: string): number | string {
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) ? parsed : value;
}

function isUnavailableError(error: unknown): boolean {
  const code = errorCode(error);
  if (
    UNREACHABLE_CODES.has(code) ||
    UNAVAILABLE_SQLSTATES.has(code) ||
    /^08[0-9A-Z]{3}$/.test(code)
  ) {
    return true;
  }
  const message = error instanceof Error ? error.message : "";
  return UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message));
}

/**
 * Tests `error`, its `cause` chain and the members of an AggregateError (Node.js reports a
 * refused connection to every address of a host that way), at most eight errors deep.
 */
function someCause(error: unknown, test: (error: unknown) => boolean, depth = 0): boolean {
  if (error === undefined || error === null || depth > 8) {
    return false;
  }
  if (test(error)) {
    return true;
  }
  if (
    error instanceof AggregateError &&
    error.errors.some((inner) => someCause(inner, test, depth + 1))
  ) {
    return true;
  }
  return error instanceof Error && someCause(error.cause, test, depth + 1);
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}

function validatePositiveInteger(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new TypeError(`${name} must be a whole number of at least 1; got ${String(value)}.`);
  }
  return value;
}
