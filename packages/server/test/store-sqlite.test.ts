import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { openSqliteStore } from "../src/store/sqlite.js";
import { describeStoreConformance } from "./store-conformance.js";

const folder = mkdtempSync(join(tmpdir(), "sello-sqlite-"));
let counter = 0;

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

describeStoreConformance("SQLite file", async () => {
  counter += 1;
  const store = openSqliteStore(join(folder, `conformance-${counter}.db`));
  await store.migrate();
  return store;
});

describe("SQLite store", () => {
  it("creates its folder and file with owner-only permissions in WAL mode", async () => {
    const path = join(folder, "nested", "sello.db");
    const store = openSqliteStore(path);
    await store.migrate();
    await store.close();

    expect(statSync(join(folder, "nested")).mode & 0o777).toBe(0o700);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const database = new BetterSqlite3(path, { readonly: true });
    expect(database.pragma("journal_mode", { simple: true })).toBe("wal");
    database.close();
  });
});
