import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
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

  it("answers correctly past its statement cache", async () => {
    const store = openSqliteStore(join(folder, "statements.db"));
    await store.migrate();
    await seedSession(store, "statements-token");
    // Each list length is a new SQL text, so 300 lengths pass the cache's 256 statements and
    // the first ones are evicted and prepared again.
    for (const round of [1, 2]) {
      for (let length = 1; length <= 300; length++) {
        const ids = Array.from({ length }, (_, index) =>
          index === 0 ? "user-1" : `none-${index}`,
        );
        const rows = await store.db
          .selectFrom("users")
          .select("id")
          .where("id", "in", ids)
          .execute();
        expect(rows, `round ${round}, ${length} ids`).toEqual([{ id: "user-1" }]);
      }
    }
    await store.close();
  });

  it("checkpoints in the background when asked", async () => {
    const sizes: Record<string, number> = {};
    for (const background of [false, true]) {
      const path = join(folder, `checkpoint-${background}.db`);
      const store = openSqliteStore(path, { backgroundCheckpoints: background });
      await store.migrate();
      const initialSize = statSync(path).size;
      // About 400 pages of WAL: below SQLite's own threshold of 1,000, so without the thread
      // nothing reaches the database file.
      for (let index = 0; index < 200; index++) {
        await store.createUser({
          id: `user-${index}`,
          username: `user-${index}`,
          passwordHash: "x".repeat(2_000),
          roles: [],
          createdAt: index,
        });
      }
      if (background) {
        await expect
          .poll(() => statSync(path).size, { timeout: 5_000 })
          .toBeGreaterThan(initialSize);
      } else {
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      sizes[String(background)] = statSync(path).size - initialSize;
      await store.close();
      expect(existsSync(`${path}-wal`)).toBe(false);
    }
    expect(sizes.false).toBe(0);
    expect(sizes.true).toBeGreaterThan(200 * 2_000);
  });

  it("runs a rotation after an open transaction ends, never inside it", async () => {
    const store = openSqliteStore(join(folder, "interleave.db"));
    await store.migrate();
    await seedSession(store, "interleave-token");

    let releaseTransaction = () => {};
    const transactionReleased = new Promise<void>((resolve) => {
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
        await transactionReleased;
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
