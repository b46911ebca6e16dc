import { randomBytes } from "node:crypto";
import pg from "pg";

/** The test database. Override with SELLO_TEST_POSTGRES_URL. */
export const POSTGRES_URL =
  process.env.SELLO_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/**
 * Connects once to the test database and returns why it cannot be used, or undefined when it
 * can. In CI (`CI=true`) an unreachable database throws, so the suite fails instead of skipping.
 */
export async function checkPostgres(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
  let reason: string | undefined;
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    reason = `PostgreSQL at ${redactPassword(POSTGRES_URL)} is not reachable: ${describeError(error)}`;
  } finally {
    await client.end().catch(() => undefined);
  }

  if (reason !== undefined && process.env.CI === "true") {
    throw new Error(`${reason}. CI requires PostgreSQL for these tests.`);
  }
  if (reason !== undefined) {
    console.warn(`Skipping PostgreSQL tests. ${reason}.`);
  }
  return reason;
}

/** Returns a schema name no other test run uses, such as `sello_test_3f9a0c1b2d4e`. */
export function randomSchemaName(): string {
  return `sello_test_${randomBytes(6).toString("hex")}`;
}

/** A small pool outside any store, for setup, inspection and cleanup. */
export class AdminConnection {
  readonly #pool = new pg.Pool({
    connectionString: POSTGRES_URL,
    max: 3,
    application_name: "sello_test_admin",
  });

  async query<Row extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<Row[]> {
    return (await this.#pool.query<Row>(text, values)).rows;
  }

  /** Checks out one connection, for holding a transaction open across statements. */
  async client(): Promise<pg.PoolClient> {
    return this.#pool.connect();
  }

  async dropSchema(schema: string): Promise<void> {
    await this.#pool.query(`drop schema if exists "${schema}" cascade`);
  }

  /**
   * Terminates every backend of this database with the given `application_name`, and returns
   * how many were terminated.
   */
  async terminateBackends(applicationName: string): Promise<number> {
    const rows = await this.query<{ terminated: boolean }>(
      `select pg_terminate_backend(pid) as terminated from pg_stat_activity
       where datname = current_database() and pid <> pg_backend_pid() and application_name = $1`,
      [applicationName],
    );
    return rows.filter((row) => row.terminated).length;
  }

  /** Counts the backends with this `application_name` that wait for a lock. */
  async countLockWaiters(applicationName: string): Promise<number> {
    const rows = await this.query<{ count: string }>(
      `select count(*) as count from pg_stat_activity
       where datname = current_database() and application_name = $1 and wait_event_type = 'Lock'`,
      [applicationName],
    );
    return Number(rows[0]?.count ?? 0);
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

function redactPassword(url: string): string {
  if (!URL.canParse(url)) {
    return "(unparseable URL)";
  }
  const parsed = new URL(url);
  if (parsed.password !== "") {
    parsed.password = "***";
  }
  return parsed.href;
}

function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return describeError(error.errors[0]);
  }
  return error instanceof Error
    ? error.message || (error as { code?: string }).code || ""
    : String(error);
}
