import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { isSelloError, type RotationOutcome, type Store } from "@sello/core";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, describe, expect, it, vi } from "vitest";
import type { KyselyStore } from "../src/store/kysely-store.js";
import {
  openPostgresStore,
  type PostgresStoreOptions,
  postgresErrors,
} from "../src/store/postgres.js";
import {
  AdminConnection,
  checkPostgres,
  POSTGRES_URL,
  randomSchemaName,
} from "./helpers/postgres.js";
import { describeStoreConformance } from "./store-conformance.js";

const HOUR = 3_600_000;

const skipReason = await checkPostgres();
const admin = skipReason === undefined ? new AdminConnection() : undefined;

/** Every schema a test created, dropped again in afterAll if a test failed before its cleanup. */
const createdSchemas = new Set<string>();

afterAll(async () => {
  if (admin === undefined) {
    return;
  }
  for (const schema of createdSchemas) {
    await admin.dropSchema(schema);
  }
  await admin.close();
});

function requireAdmin(): AdminConnection {
  if (admin === undefined) {
    throw new Error("PostgreSQL tests ran although PostgreSQL is not reachable.");
  }
  return admin;
}

/** Opens and migrates a store in `schema`, a fresh random schema by default. */
async function openStore(
  options: PostgresStoreOptions = {},
): Promise<{ store: KyselyStore; schema: string }> {
  const schema = options.schema ?? randomSchemaName();
  createdSchemas.add(schema);
  const store = openPostgresStore(POSTGRES_URL, {
    applicationName: "sello_test",
    ...options,
    schema,
  });
  await store.migrate();
  return { store, schema };
}

async function dropStore(store: Store, schema: string): Promise<void> {
  await store.close();
  await requireAdmin().dropSchema(schema);
  createdSchemas.delete(schema);
}

async function addSession(store: Store, refreshTokenHash: string): Promise<string> {
  const user = await store.createUser({
    id: randomUUID(),
    username: `user-${randomUUID()}`,
    passwordHash: "$argon2id$placeholder",
    roles: [],
    createdAt: 1_000,
  });
  const session = await store.createSession(
    {
      id: randomUUID(),
      userId: user.id,
      clientId: "sello-web",
      createdAt: 10_000,
      idleExpiresAt: 10_000 + HOUR,
      absoluteExpiresAt: 10_000 + 24 * HOUR,
      ip: null,
      userAgent: null,
    },
    refreshTokenHash,
  );
  return session.id;
}

function rotation(presentedHash: string, now = 20_000) {
  return {
    presentedHash,
    successorHash: `hash-${randomUUID()}`,
    sealedSuccessor: `sealed-${randomUUID()}`,
    now,
    idleExpiresAt: now + HOUR,
  };
}

type Settled<T> =
  | { status: "fulfilled"; value: T; elapsedMs: number }
  | { status: "rejected"; reason: unknown; elapsedMs: number };

/** Waits for `promise` to settle, and throws when it takes longer than `timeoutMs`. */
async function settleWithin<T>(promise: Promise<T>, timeoutMs: number): Promise<Settled<T>> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`The call did not settle within ${timeoutMs} ms.`)),
      timeoutMs,
    );
  });
  try {
    const settled = await Promise.race([
      promise.then(
        (value) => ({ status: "fulfilled" as const, value, elapsedMs: Date.now() - started }),
        (reason: unknown) => ({
          status: "rejected" as const,
          reason,
          elapsedMs: Date.now() - started,
        }),
      ),
      timeout,
    ]);
    return settled;
  } finally {
    clearTimeout(timer);
  }
}

function expectServiceUnavailable(settled: Settled<unknown>): void {
  expect(settled.status).toBe("rejected");
  if (settled.status !== "rejected") return;
  expect(isSelloError(settled.reason, "service_unavailable")).toBe(true);
  expect((settled.reason as { status?: number }).status).toBe(503);
  expect((settled.reason as { reason?: string }).reason).toBe("store_unavailable");
}

async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

describe.skipIf(skipReason !== undefined)("PostgreSQL store", () => {
  const conformanceSchemas = new Map<Store, string>();

  describeStoreConformance(
    "PostgreSQL, one fresh schema per case",
    async () => {
      const { store, schema } = await openStore({ max: 4 });
      conformanceSchemas.set(store, schema);
      return store;
    },
    async (store) => {
      const schema = conformanceSchemas.get(store);
      conformanceSchemas.delete(store);
      if (schema !== undefined) {
        await dropStore(store, schema);
      }
    },
  );

  describe("options", () => {
    it("rejects invalid schema names", () => {
      for (const schema of ["", "Sello", "1sello", "sello-test", 'x"; drop', "a".repeat(64)]) {
        expect(() => openPostgresStore(POSTGRES_URL, { schema }), schema).toThrow(TypeError);
        expect(() => openPostgresStore(POSTGRES_URL, { schema }), schema).toThrow("schema must");
      }
    });

    it("rejects invalid pool sizes and timeouts", () => {
      expect(() => openPostgresStore(POSTGRES_URL, { max: 0 })).toThrow("max must");
      expect(() => openPostgresStore(POSTGRES_URL, { max: 2.5 })).toThrow("max must");
      expect(() => openPostgresStore(POSTGRES_URL, { connectionTimeoutMs: -1 })).toThrow(
        "connectionTimeoutMs must",
      );
    });

    it("hides an invalid URL from errors", () => {
      for (const url of ["not a url with secret-password", "mysql://root:secret-password@db/x"]) {
        expect(() => openPostgresStore(url), url).toThrow(TypeError);
        expect(() => openPostgresStore(url), url).toThrow("url must be a postgres:// URL");
        expect(() => openPostgresStore(url), url).not.toThrow("secret-password");
      }
    });
  });

  describe("schemas and types", () => {
    it("keeps stores in different schemas apart", async () => {
      const first = await openStore();
      const second = await openStore();
      try {
        const schemas = await requireAdmin().query<{ nspname: string }>(
          "select nspname from pg_namespace where nspname = any($1)",
          [[first.schema, second.schema]],
        );
        expect(schemas.map((row) => row.nspname).sort()).toEqual(
          [first.schema, second.schema].sort(),
        );

        await addSession(first.store, "hash-first");
        expect(await first.store.countUsers()).toBe(1);
        expect(await second.store.countUsers()).toBe(0);
        expect(await second.store.findRefreshToken("hash-first")).toBeUndefined();

        const current = await sql<{
          schema: string;
        }>`select current_schema() as schema`.execute(first.store.db);
        expect(current.rows[0]?.schema).toBe(first.schema);
      } finally {
        await dropStore(first.store, first.schema);
        await dropStore(second.store, second.schema);
      }
    });

    it("keeps the options parameter of the URL", async () => {
      const schema = randomSchemaName();
      const url = new URL(POSTGRES_URL);
      url.searchParams.set("options", "-c statement_timeout=4321");
      createdSchemas.add(schema);
      const store = openPostgresStore(url.href, { schema });
      try {
        await store.migrate();
        const timeout = await sql<{
          statement_timeout: string;
        }>`show statement_timeout`.execute(store.db);
        expect(timeout.rows[0]?.statement_timeout).toBe("4321ms");
        const current = await sql<{
          schema: string;
        }>`select current_schema() as schema`.execute(store.db);
        expect(current.rows[0]?.schema).toBe(schema);
      } finally {
        await dropStore(store, schema);
      }
    });

    it("parses bigint as a number on its own pool only", async () => {
      const { store, schema } = await openStore();
      try {
        const result = await sql<{
          time: unknown;
          beyond: unknown;
        }>`select 1735689600000::bigint as time, 9007199254740993::bigint as beyond`.execute(
          store.db,
        );
        expect(result.rows[0]?.time).toBe(1_735_689_600_000);
        expect(result.rows[0]?.beyond).toBe("9007199254740993");

        const outside = await requireAdmin().query<{ time: unknown }>(
          "select 1735689600000::bigint as time",
        );
        expect(outside[0]?.time).toBe("1735689600000");
        expect(pg.types.getTypeParser(20)("5")).toBe("5");
      } finally {
        await dropStore(store, schema);
      }
    });
  });

  describe("rotation across connections", () => {
    it("rotates once when two pools contend", async () => {
      const applicationName = `sello_test_race_${randomUUID().slice(0, 8)}`;
      const first = await openStore({ applicationName });
      const second = openPostgresStore(POSTGRES_URL, { schema: first.schema, applicationName });
      const holder = await requireAdmin().client();
      try {
        const sessionId = await addSession(first.store, "hash-contended");

        // Holding the row lock makes both transactions read the token as current and then block
        // in their conditional UPDATE, the interleaving that READ COMMITTED must resolve.
        await holder.query("begin");
        await holder.query(
          `select hash from "${first.schema}".refresh_tokens where hash = $1 for update`,
          ["hash-contended"],
        );
        const requests = [rotation("hash-contended"), rotation("hash-contended")];
        const racing = Promise.all([
          first.store.rotateRefreshToken(requests[0] as ReturnType<typeof rotation>),
          second.rotateRefreshToken(requests[1] as ReturnType<typeof rotation>),
        ]);
        await vi.waitFor(
          async () => expect(await requireAdmin().countLockWaiters(applicationName)).toBe(2),
          { timeout: 5_000, interval: 10 },
        );
        await holder.query("commit");

        const outcomes = await racing;
        const rotated = outcomes.filter((outcome) => outcome.kind === "rotated");
        const repeated = outcomes.filter(
          (outcome): outcome is Extract<RotationOutcome, { kind: "already_rotated" }> =>
            outcome.kind === "already_rotated",
        );
        expect(rotated).toHaveLength(1);
        expect(repeated).toHaveLength(1);

        const winner = outcomes[0]?.kind === "rotated" ? requests[0] : requests[1];
        expect(repeated[0]?.token.successorHash).toBe(winner?.successorHash);
        expect(repeated[0]?.token.sealedSuccessor).toBe(winner?.sealedSuccessor);

        const tokens = await requireAdmin().query<{ hash: string }>(
          `select hash from "${first.schema}".refresh_tokens where session_id = $1`,
          [sessionId],
        );
        expect(tokens.map((row) => row.hash).sort()).toEqual(
          ["hash-contended", winner?.successorHash].sort(),
        );
      } finally {
        await holder.query("rollback").catch(() => undefined);
        holder.release();
        await second.close();
        await dropStore(first.store, first.schema);
      }
    });

    it("issues nothing for a session revoked while the rotation waits for it", async () => {
      const applicationName = `sello_test_revoke_${randomUUID().slice(0, 8)}`;
      const { store, schema } = await openStore({ applicationName });
      const holder = await requireAdmin().client();
      try {
        const sessionId = await addSession(store, "hash-revoking");

        // An uncommitted revocation locks the session row. The rotation claims the token, then
        // waits for the session row, and must see the revocation once it commits.
        await holder.query("begin");
        await holder.query(
          `update "${schema}".sessions set revoked_at = 15000, revoked_reason = 'logout' where id = $1`,
          [sessionId],
        );
        const rotating = store.rotateRefreshToken(rotation("hash-revoking"));
        await vi.waitFor(
          async () => expect(await requireAdmin().countLockWaiters(applicationName)).toBe(1),
          { timeout: 5_000, interval: 10 },
        );
        await holder.query("commit");

        const outcome = await rotating;
        expect(outcome.kind).toBe("session_ended");
        if (outcome.kind === "session_ended") {
          expect(outcome.session.revokedAt).toBe(15_000);
        }
      } finally {
        await holder.query("rollback").catch(() => undefined);
        holder.release();
        await dropStore(store, schema);
      }
    });

    it("rotates fifty raced tokens once each", async () => {
      const first = await openStore({ max: 5 });
      const second = openPostgresStore(POSTGRES_URL, { schema: first.schema, max: 5 });
      try {
        const hashes = Array.from({ length: 50 }, (_, index) => `hash-race-${index}`);
        for (const hash of hashes) {
          await addSession(first.store, hash);
        }

        const outcomes = await Promise.all(
          hashes.map((hash) =>
            Promise.all([
              first.store.rotateRefreshToken(rotation(hash)),
              second.rotateRefreshToken(rotation(hash)),
            ]),
          ),
        );
        for (const [index, pair] of outcomes.entries()) {
          const kinds = pair.map((outcome) => outcome.kind).sort();
          expect(kinds, hashes[index]).toEqual(["already_rotated", "rotated"]);
        }

        const counts = await requireAdmin().query<{ count: string }>(
          `select count(*) as count from "${first.schema}".refresh_tokens`,
        );
        expect(Number(counts[0]?.count)).toBe(100);
      } finally {
        await second.close();
        await dropStore(first.store, first.schema);
      }
    });
  });

  describe("connection loss", () => {
    it("reconnects after idle connections are terminated", async () => {
      const applicationName = `sello_test_idle_${randomUUID().slice(0, 8)}`;
      const connectionErrors: Error[] = [];
      const { store, schema } = await openStore({
        applicationName,
        onConnectionError: (error) => connectionErrors.push(error),
      });
      try {
        await Promise.all([store.ping(), store.ping(), store.ping()]);
        expect(await requireAdmin().terminateBackends(applicationName)).toBeGreaterThan(0);

        const outcomes: Settled<void>[] = [];
        for (let call = 0; call < 5; call += 1) {
          outcomes.push(await settleWithin(store.ping(), 3_000));
        }
        for (const outcome of outcomes) {
          if (outcome.status === "rejected") {
            expectServiceUnavailable(outcome);
          }
        }
        expect(outcomes.at(-1)?.status).toBe("fulfilled");

        await vi.waitFor(() => expect(connectionErrors.length).toBeGreaterThan(0), {
          timeout: 2_000,
        });
        expect(connectionErrors.some((error) => postgresErrors.isUnavailable(error))).toBe(true);
        expect(await store.countUsers()).toBe(0);
      } finally {
        await dropStore(store, schema);
      }
    });

    it("fails a terminated transaction cleanly", async () => {
      const applicationName = `sello_test_busy_${randomUUID().slice(0, 8)}`;
      const { store, schema } = await openStore({ applicationName });
      const holder = await requireAdmin().client();
      try {
        await addSession(store, "hash-held");
        await holder.query("begin");
        await holder.query(
          `select hash from "${schema}".refresh_tokens where hash = $1 for update`,
          ["hash-held"],
        );

        const blocked = settleWithin(store.rotateRefreshToken(rotation("hash-held")), 5_000);
        await vi.waitFor(
          async () => expect(await requireAdmin().countLockWaiters(applicationName)).toBe(1),
          { timeout: 5_000, interval: 10 },
        );
        expect(await requireAdmin().terminateBackends(applicationName)).toBe(1);
        const outcome = await blocked;
        expectServiceUnavailable(outcome);
        expect(outcome.elapsedMs).toBeLessThan(3_000);

        await holder.query("commit");
        const token = await requireAdmin().query<{ rotated_at: string | null }>(
          `select rotated_at from "${schema}".refresh_tokens where hash = $1`,
          ["hash-held"],
        );
        expect(token[0]?.rotated_at).toBeNull();

        const retried = await store.rotateRefreshToken(rotation("hash-held", 21_000));
        expect(retried.kind).toBe("rotated");
      } finally {
        await holder.query("rollback").catch(() => undefined);
        holder.release();
        await dropStore(store, schema);
      }
    });

    it("times out waiting for a pooled connection", async () => {
      const applicationName = `sello_test_pool_${randomUUID().slice(0, 8)}`;
      const { store, schema } = await openStore({
        applicationName,
        max: 1,
        connectionTimeoutMs: 200,
      });
      const holder = await requireAdmin().client();
      try {
        await addSession(store, "hash-pool");
        await holder.query("begin");
        await holder.query(
          `select hash from "${schema}".refresh_tokens where hash = $1 for update`,
          ["hash-pool"],
        );

        // The blocked rotation holds the pool's only connection.
        const blocked = store.rotateRefreshToken(rotation("hash-pool"));
        await vi.waitFor(
          async () => expect(await requireAdmin().countLockWaiters(applicationName)).toBe(1),
          { timeout: 5_000, interval: 10 },
        );
        const starved = await settleWithin(store.ping(), 3_000);
        expectServiceUnavailable(starved);
        expect(starved.elapsedMs).toBeGreaterThanOrEqual(190);

        await holder.query("commit");
        expect((await blocked).kind).toBe("rotated");
        await expect(store.ping()).resolves.toBeUndefined();
      } finally {
        await holder.query("rollback").catch(() => undefined);
        holder.release();
        await dropStore(store, schema);
      }
    });

    it("fails fast when nothing listens", async () => {
      const url = new URL(POSTGRES_URL);
      url.hostname = "127.0.0.1";
      url.port = String(await closedPort());
      const store = openPostgresStore(url.href, { connectionTimeoutMs: 1_000 });
      try {
        const outcome = await settleWithin(store.ping(), 3_000);
        expectServiceUnavailable(outcome);
        expect(
          isSelloError((outcome as { reason: unknown }).reason) &&
            postgresErrors.isUnavailable((outcome as { reason: Error }).reason.cause),
        ).toBe(true);
      } finally {
        await store.close();
      }
    });
  });

  describe("error classification", () => {
    const withCode = (code: string, message = "failed") =>
      Object.assign(new Error(message), { code });

    it("treats connection failures as unavailable", () => {
      const unavailable = [
        withCode("ECONNREFUSED"),
        withCode("ECONNRESET"),
        withCode("ETIMEDOUT"),
        withCode("57P01", "terminating connection due to administrator command"),
        withCode("57P03", "the database system is starting up"),
        withCode("08006"),
        withCode("08P01"),
        new Error("Connection terminated unexpectedly"),
        new Error("timeout exceeded when trying to connect"),
        new Error("Client has encountered a connection error and is not queryable"),
        new AggregateError([withCode("ECONNREFUSED"), withCode("ECONNREFUSED")]),
        new Error("wrapped", { cause: withCode("ECONNRESET") }),
      ];
      for (const error of unavailable) {
        expect(postgresErrors.isUnavailable(error), error.message).toBe(true);
      }
    });

    it("keeps query errors apart from outages", () => {
      const available = [
        withCode("23505"),
        withCode("42P01", 'relation "users" does not exist'),
        withCode("40001"),
        new Error("syntax error"),
        undefined,
        null,
        "ECONNREFUSED",
      ];
      for (const error of available) {
        expect(postgresErrors.isUnavailable(error), String(error)).toBe(false);
      }
    });

    it("recognises unique violations", () => {
      expect(postgresErrors.isUniqueViolation(withCode("23505"))).toBe(true);
      expect(postgresErrors.isUniqueViolation(new Error("x", { cause: withCode("23505") }))).toBe(
        true,
      );
      expect(postgresErrors.isUniqueViolation(withCode("23503"))).toBe(false);
    });
  });
});
