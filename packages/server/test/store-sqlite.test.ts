import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import type { KyselyStore } from "../src/store/kysely-store.js";
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

  it("runs a rotation after an open transaction ends, never inside it", async () => {
    const store = openSqliteStore(join(folder, "interleave.db"));
    await store.migrate();
    await seedSession(store, "interleave-token");

    let releaseTransaction = () => {};
    const held = new Promise<void>((resolve) => {
      releaseTransaction = resolve;
    });
    let transactionOpen = false;
    // A transaction that writes, waits, and then rolls back. Had the rotation run inside it,
    // the rollback would undo a rotation whose success was already reported.
    const transaction = store.db
      .transaction()
      .execute(async (trx) => {
        await trx.updateTable("users").set({ updated_at: 1 }).execute();
        transactionOpen = true;
        await held;
        throw new Error("roll back");
      })
      .catch(() => "rolled back");
    await expect.poll(() => transactionOpen).toBe(true);

    let settled = false;
    const rotation = store
      .rotateRefreshToken({
        presentedHash: "interleave-token",
        successorHash: "interleave-successor",
        sealedSuccessor: "sealed",
        now: 20_000,
        idleExpiresAt: 30_000,
      })
      .finally(() => {
        settled = true;
      });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);

    releaseTransaction();
    expect(await transaction).toBe("rolled back");
    expect((await rotation).kind).toBe("rotated");
    expect((await store.findRefreshToken("interleave-token"))?.successorHash).toBe(
      "interleave-successor",
    );
    expect(await store.findRefreshToken("interleave-successor")).toBeDefined();
    await store.close();
  });
});

async function seedSession(store: KyselyStore, refreshTokenHash: string): Promise<void> {
  await store.createUser({
    id: "user-1",
    username: "user-1",
    passwordHash: "hash",
    roles: ["viewer"],
    createdAt: 1_000,
  });
  await store.createSession(
    {
      id: "session-1",
      userId: "user-1",
      clientId: "client",
      createdAt: 10_000,
      idleExpiresAt: 100_000,
      absoluteExpiresAt: 200_000,
      ip: null,
      userAgent: null,
    },
    refreshTokenHash,
  );
}
