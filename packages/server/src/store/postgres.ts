import type { RotationRequest, SessionRecord, UserRecord } from "@sello/core";
import { Kysely, PostgresDialect, type Selectable } from "kysely";
import pg from "pg";
import { type DialectErrors, KyselyStore, toSession, toUser } from "./kysely-store.js";
import type { Database, SessionsTable } from "./schema.js";

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

/**
 * The common case of a refresh rotation as one statement, so one round trip. It claims the
 * presented token while it is current and its session live, inserts the successor, moves the
 * session's idle expiry, and returns the session with its user.
 *
 * A single statement is atomic on its own. Of two statements racing on one token, the second
 * waits for the first's row lock, re-checks `rotated_at is null` against the committed row, and
 * claims nothing. A session revoked while the statement waits for its row is re-checked the same
 * way, and the statement then returns no row.
 *
 * Parameters: $1 now, $2 successor hash, $3 sealed successor, $4 presented hash, $5 new idle
 * expiry.
 */
const ROTATE_STATEMENT = {
  name: "sello_rotate_refresh_token",
  text: `with claimed as (
    update refresh_tokens as t
       set rotated_at = $1, successor_hash = $2, sealed_successor = $3
      from sessions as s
     where t.hash = $4 and t.rotated_at is null
       and s.id = t.session_id and s.revoked_at is null
       and s.idle_expires_at > $1 and s.absolute_expires_at > $1
    returning t.session_id
  ), successor as (
    insert into refresh_tokens (hash, session_id, created_at)
    select $2, session_id, $1 from claimed
  ), touched as (
    update sessions as s
       set last_used_at = $1, idle_expires_at = least($5, s.absolute_expires_at)
      from claimed
     where s.id = claimed.session_id and s.revoked_at is null
    returning s.*
  )
  select touched.*,
         u.username as user_username, u.password_hash as user_password_hash,
         u.roles as user_roles, u.disabled as user_disabled, u.created_at as user_created_at,
         u.updated_at as user_updated_at, u.revoked_before as user_revoked_before
    from touched left join users as u on u.id = touched.user_id`,
};

interface RotatedRow extends Selectable<SessionsTable> {
  user_username: string | null;
  user_password_hash: string | null;
  user_roles: string | null;
  user_disabled: number | null;
  user_created_at: number | null;
  user_updated_at: number | null;
  user_revoked_before: number | null;
}

/**
 * The Kysely store over a pool, with the refresh rotation as one prepared statement. It also
 * ends the pool when Kysely never used it.
 */
class PostgresStore extends KyselyStore {
  readonly #pool: pg.Pool;

  constructor(db: Kysely<Database>, pool: pg.Pool, schema: string) {
    super(db, postgresErrors, { migrationTableSchema: schema });
    this.#pool = pool;
  }

  protected override async claimRotation(
    request: RotationRequest,
  ): Promise<{ session: SessionRecord; user: UserRecord | undefined } | undefined> {
    let result: pg.QueryResult<RotatedRow>;
    try {
      // A named statement is parsed and planned once per connection, not on every refresh.
      result = await this.#pool.query<RotatedRow>({
        ...ROTATE_STATEMENT,
        values: [
          request.now,
          request.successorHash,
          request.sealedSuccessor,
          request.presentedHash,
          request.idleExpiresAt,
        ],
      });
    } catch (error) {
      throw this.translateError(error);
    }
    const row = result.rows[0];
    if (row === undefined) {
      return undefined;
    }
    return { session: toSession(row), user: rotatedUser(row) };
  }

  override async close(): Promise<void> {
    await super.close();

    // Kysely ends the pool only after a query initialised its driver.
    if (!this.#pool.ending) {
      await this.#pool.end();
    }
  }
}

function rotatedUser(row: RotatedRow): UserRecord | undefined {
  if (
    row.user_username === null ||
    row.user_password_hash === null ||
    row.user_roles === null ||
    row.user_disabled === null ||
    row.user_created_at === null ||
    row.user_updated_at === null
  ) {
    return undefined;
  }
  return toUser({
    id: row.user_id,
    username: row.user_username,
    password_hash: row.user_password_hash,
    roles: row.user_roles,
    disabled: row.user_disabled,
    created_at: row.user_created_at,
    updated_at: row.user_updated_at,
    revoked_before: row.user_revoked_before,
  });
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
