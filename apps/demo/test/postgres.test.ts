import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_MIGRATION_LOCK_TABLE, DEMO_MIGRATION_TABLE } from "../src/notes-store.js";
import { type RunningDemo, startDemo } from "../src/start.js";
import { buildClientScript, freePort } from "./helpers/demo.js";

/**
 * The machine's test database, which the server's tests use too. SELLO_TEST_POSTGRES_URL
 * overrides it.
 */
const POSTGRES_URL =
  process.env.SELLO_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** Returns why PostgreSQL cannot be used, or undefined. Under CI=true it must be reachable. */
async function checkPostgres(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
  let reason: string | undefined;
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    const host = new URL(POSTGRES_URL).host;
    reason = `PostgreSQL is not reachable at ${host}: ${(error as Error).message}`;
  } finally {
    await client.end().catch(() => undefined);
  }
  if (reason !== undefined && process.env.CI === "true") {
    throw new Error(`${reason}. CI requires PostgreSQL for these tests.`);
  }
  if (reason !== undefined) {
    console.warn(`Skipping the demo's PostgreSQL tests. ${reason}.`);
  }
  return reason;
}

const skipReason = await checkPostgres();

describe.skipIf(skipReason !== undefined)("demo on PostgreSQL", () => {
  const schema = `sello_demo_test_${randomBytes(6).toString("hex")}`;
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
  const dataDir = mkdtempSync(join(tmpdir(), "sello-demo-pg-"));
  let demo: RunningDemo | undefined;

  async function startOnPostgres(): Promise<RunningDemo> {
    const url = new URL(POSTGRES_URL);
    url.searchParams.set("schema", schema);
    return startDemo({
      env: {
        SELLO_DATA_DIR: dataDir,
        SELLO_DATABASE_URL: url.href,
        SELLO_HOST: "127.0.0.1",
        SELLO_PORT: String(await freePort()),
        SELLO_LOG_LEVEL: "silent",
        SELLO_DEMO_USERS: "on",
      },
      cwd: dataDir,
      clientScript: await buildClientScript(),
      print: () => undefined,
    });
  }

  beforeAll(async () => {
    demo = await startOnPostgres();
  });

  afterAll(async () => {
    await demo?.close();
    await pool.query(`drop schema if exists "${schema}" cascade`);
    await pool.end();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("migrates its tables into the server's schema", async () => {
    const tables = await pool.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = $1",
      [schema],
    );
    const names = tables.rows.map((row) => row.table_name);

    expect(names).toEqual(
      expect.arrayContaining([
        "demo_notes",
        DEMO_MIGRATION_TABLE,
        DEMO_MIGRATION_LOCK_TABLE,
        "kysely_migration",
        "users",
      ]),
    );
    const applied = await pool.query<{ name: string }>(
      `select name from "${schema}".${DEMO_MIGRATION_TABLE} order by name`,
    );
    expect(applied.rows.map((row) => row.name)).toEqual(["0001_demo_notes"]);
  });

  it("creates, lists and deletes notes", async () => {
    const running = demo as RunningDemo;
    const login = await running.server.app.inject({
      method: "POST",
      url: "/auth/login",
      payload: { username: "admin", password: "sello-admin-demo", refresh_token_delivery: "body" },
    });
    expect(login.statusCode, login.body).toBe(200);
    const headers = { authorization: `Bearer ${login.json().access_token}` };

    const created = await running.server.app.inject({
      method: "POST",
      url: "/api/notes",
      headers,
      payload: { text: "Stored in PostgreSQL" },
    });
    expect(created.statusCode, created.body).toBe(201);
    const { note } = created.json() as { note: { id: string; createdAt: string } };

    const listed = await running.server.app.inject({ method: "GET", url: "/api/notes", headers });
    expect(listed.json()).toEqual({ notes: [expect.objectContaining({ id: note.id })] });
    expect(listed.json().notes[0].createdAt).toBe(note.createdAt);

    const deleted = await running.server.app.inject({
      method: "DELETE",
      url: `/api/notes/${note.id}`,
      headers,
    });
    expect(deleted.statusCode).toBe(204);
    const again = await running.server.app.inject({
      method: "DELETE",
      url: `/api/notes/${note.id}`,
      headers,
    });
    expect(again.statusCode).toBe(404);
  });

  it("restarts without migrating again", async () => {
    await demo?.close();
    demo = undefined;

    demo = await startOnPostgres();

    const applied = await pool.query<{ name: string }>(
      `select name from "${schema}".${DEMO_MIGRATION_TABLE}`,
    );
    expect(applied.rows).toHaveLength(1);
    expect(demo.demoUsers?.existing.map((user) => user.username)).toEqual([
      "admin",
      "editor",
      "viewer",
    ]);
  });
});
