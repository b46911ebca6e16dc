// Three `sello serve` processes share one PostgreSQL schema, one Redis prefix and one
// key-encryption key, as instances behind a load balancer would. This file starts its own Redis
// server, so that it can kill and restart it. The instances reach PostgreSQL through a TCP proxy
// that the file owns, so that it can cut the database off without touching the machine's server.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SelloInstance, TcpProxy, writeKeyEncryptionKeyFile } from "./helpers/cluster.js";
import {
  bearer,
  decodeClaims,
  decodeHeader,
  expectError,
  getMe,
  type JsonResponse,
  loginForTokens,
  refreshWithBody,
  request,
  type TokenBody,
} from "./helpers/http.js";
import {
  AdminConnection,
  checkPostgres,
  POSTGRES_URL,
  randomSchemaName,
} from "./helpers/postgres.js";
import {
  checkRedisServerBinary,
  deleteKeys,
  RedisServerProcess,
  uniquePrefix,
} from "./helpers/redis.js";
import { freePort } from "./helpers/server.js";

/** SELLO_REVOCATION_MAX_STALENESS of every instance, in milliseconds. */
const MAX_STALENESS_MS = 2_000;
/** How often the revocation feed PINGs Redis, which is what keeps it fresh (its default). */
const FEED_HEARTBEAT_MS = 1_000;
/** SELLO_LOGIN_MAX_ATTEMPTS_PER_IP of every instance. */
const MAX_ATTEMPTS_PER_IP = 6;
/**
 * SELLO_KEY_PROPAGATION_DELAY of every instance, in seconds. Each instance reloads its key ring
 * from the database every 30 s (KEY_TICK_INTERVAL_MS in src/server.ts), so only a delay longer
 * than that guarantees that every instance publishes a new key before any instance signs with it.
 */
const KEY_PROPAGATION_DELAY_SECONDS = 33;
/** Trials of the login, refresh, logout round for the revocation latency. */
const REVOCATION_TRIALS = 100;
/** The p99 bound on the delay from a logout on one instance to rejection by the others. */
const REVOCATION_P99_LIMIT_MS = 100;

const ADMIN_USERNAME = "cluster-admin";
const ADMIN_PASSWORD = "Harbour-quartz-lantern-8421";
const USERNAME = "cluster-user";
const PASSWORD = "Meadow-copper-whistle-3907";

const skipReason = (await checkPostgres()) ?? checkRedisServerBinary();

/** Returns the value at `fraction` (0 to 1) of sorted `values`, by the nearest-rank method. */
function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((left, right) => left - right);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[index] as number;
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

/** Reads the `kid` values of an instance's JWKS. */
async function publishedKids(baseUrl: string): Promise<string[]> {
  const response = await request<{ keys: Array<{ kid: string }> }>(
    `${baseUrl}/.well-known/jwks.json`,
  );
  expect(response.status, `JWKS of ${baseUrl}`).toBe(200);
  return response.body.keys.map((key) => key.kid);
}

describe.skipIf(skipReason !== undefined)("three instances sharing PostgreSQL and Redis", () => {
  const schema = randomSchemaName();
  const redisPrefix = uniquePrefix();
  /** The schema and prefix of a second deployment, whose instances all start at once. */
  const secondSchema = randomSchemaName();
  const secondRedisPrefix = uniquePrefix();
  let workDir: string;
  let admin: AdminConnection;
  let redis: RedisServerProcess;
  let database: TcpProxy;
  let a: SelloInstance;
  let b: SelloInstance;
  let c: SelloInstance;
  let adminToken: string;
  let environment: Record<string, string>;

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), "sello-cluster-"));
    admin = new AdminConnection();
    redis = await RedisServerProcess.start();
    const postgres = new URL(POSTGRES_URL);
    database = await TcpProxy.start(postgres.hostname, Number(postgres.port || 5432));
    const databaseUrl = new URL(POSTGRES_URL);
    databaseUrl.host = `127.0.0.1:${database.port}`;
    databaseUrl.searchParams.set("schema", schema);

    // The public URL is the load balancer's address: one issuer for every instance. Nothing
    // listens there, because the test calls each instance directly.
    const publicPort = await freePort();
    environment = {
      SELLO_HOST: "127.0.0.1",
      SELLO_PUBLIC_URL: `http://localhost:${publicPort}`,
      SELLO_DATABASE_URL: databaseUrl.href,
      SELLO_REDIS_URL: redis.url,
      SELLO_REDIS_PREFIX: redisPrefix,
      SELLO_REVOCATION_MAX_STALENESS: `${MAX_STALENESS_MS / 1000}s`,
      SELLO_KEY_ENCRYPTION_KEY_FILE: writeKeyEncryptionKeyFile(workDir),
      SELLO_KEY_PROPAGATION_DELAY: `${KEY_PROPAGATION_DELAY_SECONDS}s`,
      SELLO_LOGIN_MAX_ATTEMPTS_PER_IP: String(MAX_ATTEMPTS_PER_IP),
      // The test plays the load balancer: X-Forwarded-For from loopback names the client.
      SELLO_TRUST_PROXY: "loopback",
      SELLO_ADMIN_USERNAME: ADMIN_USERNAME,
      SELLO_ADMIN_PASSWORD: ADMIN_PASSWORD,
      SELLO_DEMO_USERS: "off",
      SELLO_LOG_LEVEL: "warn",
    };

    // A creates the schema, the first signing key and the administrator; B and C find them.
    a = await startInstance("A");
    [b, c] = await Promise.all([startInstance("B"), startInstance("C")]);

    const adminLogin = await loginForTokens(a.url, ADMIN_USERNAME, ADMIN_PASSWORD);
    adminToken = adminLogin.accessToken;
    const created = await request(`${b.url}/admin/users`, {
      method: "POST",
      headers: bearer(adminToken),
      json: { username: USERNAME, password: PASSWORD, roles: ["viewer"] },
    });
    expect(created.status).toBe(201);
  }, 120_000);

  /** Starts an instance with the shared settings, changed by `overrides`. */
  async function startInstance(
    name: string,
    overrides: Record<string, string> = {},
  ): Promise<SelloInstance> {
    const dataDir = join(workDir, name);
    mkdirSync(dataDir);
    const port = await freePort();
    return SelloInstance.start(name, {
      ...environment,
      ...overrides,
      SELLO_DATA_DIR: dataDir,
      SELLO_PORT: String(port),
    });
  }

  afterAll(async () => {
    for (const instance of [a, b, c]) {
      await instance?.stop();
    }
    if (redis?.pid !== undefined) {
      const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      try {
        for (const prefix of [redisPrefix, secondRedisPrefix]) {
          await deleteKeys(client, `sello:${prefix}:*`);
        }
      } finally {
        client.disconnect();
      }
    }
    await redis?.dispose();
    await database?.close();
    for (const name of [schema, secondSchema]) {
      await admin?.dropSchema(name);
    }
    await admin?.close();
    rmSync(workDir, { recursive: true, force: true });
  }, 60_000);

  /** Returns the last output of every instance, for failure messages. */
  function instanceOutput(): string {
    return [a, b, c].map((instance) => `--- ${instance.name}:\n${instance.output()}`).join("\n");
  }

  /**
   * Polls GET /auth/me back to back until it returns 401 token_revoked, and returns the
   * milliseconds from `since` (a `performance.now()` time) to that answer.
   */
  async function millisecondsUntilRevoked(
    instance: SelloInstance,
    accessToken: string,
    since: number,
  ): Promise<number> {
    for (;;) {
      const response = await getMe(instance.url, accessToken);
      const elapsed = performance.now() - since;
      if (response.status === 401) {
        expectError(response, 401, "token_revoked");
        return elapsed;
      }
      expect(response.status, `GET /auth/me on ${instance.name}`).toBe(200);
      if (elapsed > 5_000) {
        throw new Error(`${instance.name} still accepted a logged-out token after 5 s.`);
      }
    }
  }

  it("revocation reaches the other instances within 100 ms", async () => {
    const delays: Record<"A" | "B", number[]> = { A: [], B: [] };

    for (let trial = 0; trial < REVOCATION_TRIALS; trial++) {
      const session = await loginForTokens(a.url, USERNAME, PASSWORD);
      const refreshed = await refreshWithBody(b.url, session.refreshToken);
      expect(refreshed.status).toBe(200);
      const accessToken = refreshed.body.access_token;
      expect((await getMe(a.url, accessToken)).status).toBe(200);
      expect((await getMe(b.url, accessToken)).status).toBe(200);

      const logout = await request(`${c.url}/auth/logout`, {
        method: "POST",
        headers: bearer(accessToken),
      });
      const loggedOutAt = performance.now();
      expect(logout.status).toBe(204);

      const [onA, onB] = await Promise.all([
        millisecondsUntilRevoked(a, accessToken, loggedOutAt),
        millisecondsUntilRevoked(b, accessToken, loggedOutAt),
      ]);
      delays.A.push(onA);
      delays.B.push(onB);
      // The session is revoked too, so the token from the login on A is rejected as well.
      expectError(await getMe(a.url, session.accessToken), 401, "token_revoked");
    }

    const all = [...delays.A, ...delays.B];
    const summary = (values: number[]) =>
      `p50 ${percentile(values, 0.5).toFixed(1)} ms, p99 ${percentile(values, 0.99).toFixed(1)} ms, max ${Math.max(...values).toFixed(1)} ms`;
    console.log(
      `Logout on C to 401 token_revoked, ${REVOCATION_TRIALS} trials: on A ${summary(delays.A)}; on B ${summary(delays.B)}; both ${summary(all)}.`,
    );
    expect(percentile(delays.A, 0.99)).toBeLessThan(REVOCATION_P99_LIMIT_MS);
    expect(percentile(delays.B, 0.99)).toBeLessThan(REVOCATION_P99_LIMIT_MS);
  }, 90_000);

  it("one refresh token sent to two instances rotates once", async () => {
    for (let race = 0; race < 20; race++) {
      const session = await loginForTokens(a.url, USERNAME, PASSWORD);
      const sessionId = decodeClaims(session.accessToken).sid;

      const [onA, onB] = await Promise.all([
        refreshWithBody(a.url, session.refreshToken),
        refreshWithBody(b.url, session.refreshToken),
      ]);
      expect(onA.status, `race ${race} on A`).toBe(200);
      expect(onB.status, `race ${race} on B`).toBe(200);
      const successor = onA.body.refresh_token as string;
      expect(successor).toMatch(/^[\w-]{43}$/);
      expect(onB.body.refresh_token).toBe(successor);
      expect(decodeClaims(onA.body.access_token).sid).toBe(sessionId);
      expect(decodeClaims(onB.body.access_token).sid).toBe(sessionId);

      const tokens = await admin.query<{ rotated: boolean }>(
        `select rotated_at is not null as rotated from "${schema}".refresh_tokens
         where session_id = $1`,
        [sessionId],
      );
      expect(tokens, `refresh tokens of race ${race}`).toHaveLength(2);
      expect(tokens.filter((token) => token.rotated)).toHaveLength(1);

      // The shared successor continues the session on the third instance.
      const next = await refreshWithBody(c.url, successor);
      expect(next.status).toBe(200);
      expect(next.body.refresh_token).not.toBe(successor);
    }
  }, 60_000);

  it("login limit per address counts across instances", async () => {
    // A documentation address (RFC 5737), only ever sent as a header value.
    const client = { "x-forwarded-for": `203.0.113.${10 + Math.floor(Math.random() * 200)}` };
    const instances = [a, b, c];

    for (let attempt = 0; attempt < MAX_ATTEMPTS_PER_IP; attempt++) {
      const instance = instances[attempt % instances.length] as SelloInstance;
      const failure = await request(`${instance.url}/auth/login`, {
        method: "POST",
        headers: client,
        json: { username: `nobody-${attempt}`, password: "wrong-password-1234" },
      });
      expectError(failure, 401, "invalid_credentials");
    }

    for (const instance of instances) {
      // Correct credentials too: the address is blocked, whatever it sends.
      const blocked = await request(`${instance.url}/auth/login`, {
        method: "POST",
        headers: client,
        json: { username: USERNAME, password: PASSWORD },
      });
      expectError(blocked, 429, "rate_limited");
      const retryAfter = Number(blocked.headers.get("retry-after"));
      expect(Number.isInteger(retryAfter), `Retry-After on ${instance.name}`).toBe(true);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(900);
    }

    // Other clients are not affected.
    const other = await request(`${a.url}/auth/login`, {
      method: "POST",
      headers: { "x-forwarded-for": "198.51.100.7" },
      json: { username: USERNAME, password: PASSWORD },
    });
    expect(other.status).toBe(200);
  }, 60_000);

  it("Redis outage fails closed, then recovers", async () => {
    const instances = [a, b, c];
    const valid = await loginForTokens(a.url, USERNAME, PASSWORD);
    // Logged out during the outage with its refresh cookie, which needs no revocation check.
    const doomed = await request<TokenBody>(`${b.url}/auth/login`, {
      method: "POST",
      json: { username: USERNAME, password: PASSWORD },
    });
    expect(doomed.status).toBe(200);
    const doomedCookie = doomed.cookies.find((cookie) => cookie.name === "sello_refresh");
    expect(doomedCookie).toBeDefined();
    const doomedToken = doomed.body.access_token;
    for (const instance of instances) {
      expect((await getMe(instance.url, doomedToken)).status).toBe(200);
    }

    await redis.kill();
    const killedAt = performance.now();

    // Every instance returns 200 until its feed is older than the bound, then 503, and never
    // anything else.
    const failedClosedAt = new Map<string, number>();
    while (failedClosedAt.size < instances.length) {
      const elapsed = performance.now() - killedAt;
      expect(elapsed, instanceOutput()).toBeLessThan(MAX_STALENESS_MS + FEED_HEARTBEAT_MS + 1_500);
      for (const instance of instances) {
        const response = await getMe(instance.url, valid.accessToken);
        if (response.status === 503) {
          expectError(response, 503, "service_unavailable");
          if (!failedClosedAt.has(instance.name)) {
            failedClosedAt.set(instance.name, performance.now() - killedAt);
          }
        } else {
          expect(response.status, `GET /auth/me on ${instance.name} during the outage`).toBe(200);
          expect(failedClosedAt.has(instance.name), `${instance.name} answered 200 again`).toBe(
            false,
          );
        }
      }
      await sleep(20);
    }
    console.log(
      `Redis killed: 503 after ${[...failedClosedAt].map(([name, ms]) => `${name} ${ms.toFixed(0)} ms`).join(", ")}.`,
    );
    for (const [name, milliseconds] of failedClosedAt) {
      // The feed was last confirmed by a PING at most one heartbeat before the kill.
      expect(milliseconds, name).toBeGreaterThan(MAX_STALENESS_MS - FEED_HEARTBEAT_MS - 300);
    }
    // A load balancer that polls /readyz takes every instance out of rotation.
    for (const instance of instances) {
      expectError(await request(`${instance.url}/readyz`), 503, "service_unavailable");
      expect((await request(`${instance.url}/healthz`)).status).toBe(200);
    }

    // While Redis is down: logins need the shared counters, refresh needs only PostgreSQL, and a
    // logout with the refresh cookie is written to PostgreSQL.
    expectError(
      await request(`${c.url}/auth/login`, {
        method: "POST",
        json: { username: USERNAME, password: PASSWORD },
      }),
      503,
      "service_unavailable",
    );
    const refreshed = await refreshWithBody(a.url, valid.refreshToken);
    expect(refreshed.status).toBe(200);
    const logout = await request(`${b.url}/auth/logout`, {
      method: "POST",
      headers: {
        cookie: `${doomedCookie?.name}=${doomedCookie?.value}`,
        "x-sello-csrf": "1",
      },
    });
    expect(logout.status).toBe(204);
    for (const instance of instances) {
      const response = await getMe(instance.url, valid.accessToken);
      expectError(response, 503, "service_unavailable");
    }

    await redis.start();
    const restartedAt = performance.now();

    // The instances come back without a restart. The logged-out token is never accepted again:
    // each instance loads the revocations in PostgreSQL before its feed counts as fresh.
    const recoveredAt = new Map<string, number>();
    while (recoveredAt.size < instances.length) {
      const elapsed = performance.now() - restartedAt;
      expect(elapsed, instanceOutput()).toBeLessThan(5_000);
      for (const instance of instances) {
        const loggedOut = await getMe(instance.url, doomedToken);
        expect([401, 503], `logged-out token on ${instance.name}`).toContain(loggedOut.status);
        const response = await getMe(instance.url, valid.accessToken);
        if (response.status === 200 && !recoveredAt.has(instance.name)) {
          recoveredAt.set(instance.name, performance.now() - restartedAt);
        } else if (response.status !== 200) {
          expectError(response, 503, "service_unavailable");
        }
      }
      await sleep(20);
    }
    console.log(
      `Redis restarted: 200 again after ${[...recoveredAt].map(([name, ms]) => `${name} ${ms.toFixed(0)} ms`).join(", ")}.`,
    );

    for (const instance of instances) {
      expectError(await getMe(instance.url, doomedToken), 401, "token_revoked");
      expect((await getMe(instance.url, refreshed.body.access_token)).status).toBe(200);
      await expect
        .poll(async () => (await request(`${instance.url}/readyz`)).status, { timeout: 5_000 })
        .toBe(200);
    }
    const login = await request(`${c.url}/auth/login`, {
      method: "POST",
      json: { username: USERNAME, password: PASSWORD },
    });
    expect(login.status).toBe(200);
  }, 60_000);

  it("PostgreSQL outage stops logins, not verification", async () => {
    const session = await loginForTokens(b.url, USERNAME, PASSWORD);
    const revoked = await loginForTokens(b.url, USERNAME, PASSWORD);
    const logout = await request(`${a.url}/auth/logout`, {
      method: "POST",
      headers: bearer(revoked.accessToken),
    });
    expect(logout.status).toBe(204);

    database.cut();
    try {
      for (const instance of [a, b, c]) {
        const login = await request(`${instance.url}/auth/login`, {
          method: "POST",
          json: { username: USERNAME, password: PASSWORD },
        });
        expectError(login, 503, "service_unavailable");
        expectError(
          await refreshWithBody(instance.url, session.refreshToken),
          503,
          "service_unavailable",
        );
        expectError(await request(`${instance.url}/readyz`), 503, "service_unavailable");
        expect((await request(`${instance.url}/healthz`)).status).toBe(200);

        // The guard needs no database: the keys and the revocation list are in memory.
        expect(await publishedKids(instance.url)).not.toHaveLength(0);
        expectError(await getMe(instance.url, revoked.accessToken), 401, "token_revoked");
        expectError(await getMe(instance.url, `${session.accessToken}x`), 401, "invalid_token");
        // GET /auth/me itself reads the user from the database.
        expectError(await getMe(instance.url, session.accessToken), 503, "service_unavailable");
      }
    } finally {
      database.restore();
    }

    const restoredAt = performance.now();
    for (const instance of [a, b, c]) {
      for (;;) {
        const refreshed = await refreshWithBody(instance.url, session.refreshToken);
        if (refreshed.status === 200) {
          session.refreshToken = refreshed.body.refresh_token as string;
          break;
        }
        expectError(refreshed, 503, "service_unavailable");
        expect(performance.now() - restoredAt, instanceOutput()).toBeLessThan(5_000);
        await sleep(50);
      }
      expect((await getMe(instance.url, session.accessToken)).status).toBe(200);
    }
    console.log(
      `PostgreSQL restored: every instance refreshed again within ${(performance.now() - restoredAt).toFixed(0)} ms.`,
    );
  }, 60_000);

  it("rotated key is published everywhere before it signs", async () => {
    const instances = [a, b, c];
    const oldKid = decodeHeader(adminToken).kid as string;
    // One refresh chain per instance: each refresh returns a token signed by that instance.
    const chains = new Map<string, string>();
    for (const instance of instances) {
      const session = await loginForTokens(instance.url, USERNAME, PASSWORD);
      expect(decodeHeader(session.accessToken).kid).toBe(oldKid);
      chains.set(instance.name, session.refreshToken);
    }
    const oldToken = (await loginForTokens(a.url, USERNAME, PASSWORD)).accessToken;

    const rotation = await request<{ kid: string; activatesAt: string }>(
      `${a.url}/admin/keys/rotate`,
      { method: "POST", headers: bearer(adminToken) },
    );
    const rotatedAt = performance.now();
    expect(rotation.status).toBe(200);
    const newKid = rotation.body.kid;
    expect(newKid).not.toBe(oldKid);
    expect((await publishedKids(a.url)).sort()).toEqual([newKid, oldKid].sort());

    const publishedAt = new Map<string, number>();
    const signedAt = new Map<string, number>();
    const deadline = (KEY_PROPAGATION_DELAY_SECONDS + 45) * 1000;
    while (signedAt.size < instances.length) {
      expect(performance.now() - rotatedAt, instanceOutput()).toBeLessThan(deadline);
      for (const instance of instances) {
        if (
          !publishedAt.has(instance.name) &&
          (await publishedKids(instance.url)).includes(newKid)
        ) {
          publishedAt.set(instance.name, performance.now() - rotatedAt);
        }

        const refreshed = await refreshWithBody(instance.url, chains.get(instance.name) as string);
        expect(refreshed.status).toBe(200);
        chains.set(instance.name, refreshed.body.refresh_token as string);
        const kid = decodeHeader(refreshed.body.access_token).kid;
        if (kid === oldKid) {
          continue;
        }
        expect(kid).toBe(newKid);
        if (!signedAt.has(instance.name)) {
          signedAt.set(instance.name, performance.now() - rotatedAt);
        }
        // The first token signed by the new key: every instance must already publish the key
        // and accept the token.
        for (const other of instances) {
          expect(await publishedKids(other.url), `JWKS of ${other.name}`).toContain(newKid);
          expect((await getMe(other.url, refreshed.body.access_token)).status).toBe(200);
        }
      }
      await sleep(250);
    }

    const timeline = (times: Map<string, number>) =>
      [...times].map(([name, ms]) => `${name} ${(ms / 1000).toFixed(1)} s`).join(", ");
    console.log(
      `Key rotation on A with a ${KEY_PROPAGATION_DELAY_SECONDS} s propagation delay: published on ${timeline(publishedAt)}; signing on ${timeline(signedAt)}.`,
    );
    const lastPublished = Math.max(...publishedAt.values());
    expect(publishedAt.size).toBe(instances.length);
    expect(lastPublished).toBeLessThan(Math.min(...signedAt.values()));
    expect(Math.min(...signedAt.values())).toBeGreaterThanOrEqual(
      KEY_PROPAGATION_DELAY_SECONDS * 1000 - 1_000,
    );

    // Tokens signed by the old key keep verifying on every instance.
    for (const instance of instances) {
      expect(await publishedKids(instance.url)).toContain(oldKid);
      expect((await getMe(instance.url, oldToken)).status).toBe(200);
    }
  }, 120_000);

  it("simultaneous rotations keep one next key", async () => {
    const rotations = await Promise.all(
      [a, b, c, a, b, c].map((instance) =>
        request<{ kid: string }>(`${instance.url}/admin/keys/rotate`, {
          method: "POST",
          headers: bearer(adminToken),
        }),
      ),
    );
    for (const rotation of rotations) {
      expect(rotation.status, JSON.stringify(rotation.body)).toBe(200);
    }
    const stored = await admin.query<{ kid: string }>(
      `select kid from "${schema}".signing_keys where state = 'next'`,
    );
    expect(stored).toHaveLength(1);
    const kid = stored[0]?.kid as string;
    expect(rotations.map((rotation) => rotation.body.kid)).toContain(kid);
    console.log(
      `Six simultaneous rotations returned ${new Set(rotations.map((rotation) => rotation.body.kid)).size} distinct kid(s).`,
    );

    const again = await request<{ kid: string }>(`${b.url}/admin/keys/rotate`, {
      method: "POST",
      headers: bearer(adminToken),
    });
    expect(again.body.kid).toBe(kid);

    // A new instance loads the keys, which fails when the store contains two next keys.
    const late = await startInstance("D");
    try {
      expect(await publishedKids(late.url)).toContain(kid);
    } finally {
      await late.stop();
    }
  }, 60_000);

  it("instances started at once share one key", async () => {
    const databaseUrl = new URL(environment.SELLO_DATABASE_URL as string);
    databaseUrl.searchParams.set("schema", secondSchema);
    const keyFolder = join(workDir, "second");
    mkdirSync(keyFolder);
    const overrides = {
      SELLO_DATABASE_URL: databaseUrl.href,
      SELLO_REDIS_PREFIX: secondRedisPrefix,
      SELLO_KEY_ENCRYPTION_KEY_FILE: writeKeyEncryptionKeyFile(keyFolder),
    };

    // Each instance finds an empty database, so each creates a signing key and the administrator.
    const startingAt = performance.now();
    const started = await Promise.allSettled(
      ["E", "F", "G"].map((name) => startInstance(name, overrides)),
    );
    const instances = started.flatMap((result) =>
      result.status === "fulfilled" ? [result.value] : [],
    );
    try {
      for (const result of started) {
        expect(result.status, String((result as PromiseRejectedResult).reason)).toBe("fulfilled");
      }
      const current = await admin.query<{ kid: string }>(
        `select kid from "${secondSchema}".signing_keys where state = 'current'`,
      );
      expect(current).toHaveLength(1);
      const admins = await admin.query(
        `select id from "${secondSchema}".users where username = $1`,
        [ADMIN_USERNAME],
      );
      expect(admins).toHaveLength(1);

      // An instance that loaded the keys before another stored its key loads the settled keys at
      // its next key reload, at most 30 s later. Normally every instance agrees at once.
      const tokens = await Promise.all(
        instances.map(
          async (instance) =>
            (await loginForTokens(instance.url, ADMIN_USERNAME, ADMIN_PASSWORD)).accessToken,
        ),
      );
      const startedAt = performance.now();
      const startSeconds = (startedAt - startingAt) / 1000;
      for (const instance of instances) {
        for (const token of tokens) {
          for (;;) {
            const response = await getMe(instance.url, token);
            if (response.status === 200) {
              break;
            }
            expect(performance.now() - startedAt, instanceOutput()).toBeLessThan(35_000);
            await sleep(250);
          }
        }
        expect(await publishedKids(instance.url)).toContain(current[0]?.kid);
      }
      console.log(
        `Three instances started at once in ${startSeconds.toFixed(1)} s; each accepted the others' tokens ${(performance.now() - startedAt).toFixed(0)} ms later.`,
      );
    } finally {
      for (const instance of instances) {
        await instance.stop();
      }
    }
  }, 90_000);

  it("stopped instance leaves the others serving", async () => {
    const onC = await loginForTokens(c.url, USERNAME, PASSWORD);
    await c.kill();

    // A session opened on C continues on A, and a logout on A reaches B.
    const refreshed = await refreshWithBody(a.url, onC.refreshToken);
    expect(refreshed.status).toBe(200);
    const accessToken = refreshed.body.access_token;
    expect((await getMe(b.url, accessToken)).status).toBe(200);
    const logout = await request(`${a.url}/auth/logout`, {
      method: "POST",
      headers: bearer(accessToken),
    });
    expect(logout.status).toBe(204);
    const delay = await millisecondsUntilRevoked(b, accessToken, performance.now());
    expect(delay).toBeLessThan(1_000);

    const login: JsonResponse<TokenBody> = await request<TokenBody>(`${b.url}/auth/login`, {
      method: "POST",
      json: { username: USERNAME, password: PASSWORD },
    });
    expect(login.status).toBe(200);
  }, 30_000);
});
