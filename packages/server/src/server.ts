import { randomUUID } from "node:crypto";
import cookie from "@fastify/cookie";
import {
  createRoleMap,
  isSelloError,
  RevocationList,
  type RoleDefinitions,
  SelloError,
  type Store,
} from "@sello/core";
import { createAccessTokenIssuer } from "@sello/core/node";
import { createGuard, type Guard } from "@sello/guard";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { AdminService } from "./admin-service.js";
import { AuditLog } from "./audit.js";
import { AuthService } from "./auth-service.js";
import type { ServerConfig } from "./config/index.js";
import { answerClientError, installErrorHandlers } from "./http/errors.js";
import { installApiDocs } from "./http/openapi.js";
import { installSecurityHeaders } from "./http/security.js";
import { loadKeyEncryptionKey } from "./key-encryption-key.js";
import { KeyManager } from "./key-manager.js";
import { createLoginLimiter } from "./login-limiter.js";
import { Metrics } from "./metrics.js";
import { retainPasswordHashing } from "./passwords.js";
import {
  createRedisConnection,
  createRedisRevocationFeed,
  RedisLimiterStore,
  type RedisRevocationFeed,
  waitUntilReady,
} from "./redis/index.js";
import { createRevocationSink } from "./revocation-sink.js";
import { adminRoutes } from "./routes/admin.js";
import { authRoutes } from "./routes/auth.js";
import { healthRoutes } from "./routes/health.js";
import { wellKnownRoutes } from "./routes/well-known.js";
import { openStore } from "./store/index.js";
import { normaliseUsername } from "./usernames.js";

/** Clock skew accepted by the server's own guard, in seconds. */
const CLOCK_TOLERANCE_SECONDS = 5;
/** How long resource servers may cache the JWKS, in seconds. */
const JWKS_MAX_AGE_SECONDS = 300;
/** How often expired sessions and denied tokens are purged. */
const PURGE_INTERVAL_MS = 3_600_000;
/** How often the key ring is reloaded, due rotations promoted and expired keys removed, at most. */
const KEY_TICK_INTERVAL_MS = 30_000;

/**
 * Returns the key tick interval in ms: 30 s, or half the propagation delay when that is shorter
 * (but at least 1 s), so every instance publishes a new key well before any instance signs with it.
 */
function keyTickInterval(propagationDelaySeconds: number): number {
  return Math.min(KEY_TICK_INTERVAL_MS, Math.max(1_000, (propagationDelaySeconds * 1000) / 2));
}

/** Log paths that may hold a secret; pino replaces their values. */
export const REDACTED_LOG_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  "headers.authorization",
  "headers.cookie",
  "password",
  "*.password",
  "new_password",
  "*.new_password",
  "current_password",
  "*.current_password",
  "token",
  "*.token",
  "access_token",
  "*.access_token",
  "refresh_token",
  "*.refresh_token",
];

export interface SelloServerOptions {
  config: ServerConfig;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  /** Use this store instead of opening the configured one (tests). It is not closed by `close`. */
  store?: Store;
  /** Destination of the logs. Default: standard output. */
  logStream?: NodeJS.WritableStream;
  roles?: RoleDefinitions;
}

export interface SelloServer {
  app: FastifyInstance;
  auth: AuthService;
  guard: Guard;
  keys: KeyManager;
  admin: AdminService;
  store: Store;
  revocations: RevocationList;
  metrics: Metrics;
  config: ServerConfig;
  /** Every route registered, as `METHOD /path` with Fastify's `:param` syntax. */
  routes: string[];
  /** Starts listening and resolves with the base URL of the bound address. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/**
 * Builds a ready Sello auth server: opens and migrates the store, loads or creates the signing
 * keys, rebuilds the revocation list, and registers every route. Does not listen yet.
 */
export async function createSelloServer(options: SelloServerOptions): Promise<SelloServer> {
  const { config } = options;
  const clock = options.clock ?? Date.now;
  const app = await buildApp(config, options.logStream);
  const ownsStore = options.store === undefined;
  const store =
    options.store ??
    openStore(config.database, {
      backgroundCheckpoints: true,
      onCheckpointError: (error) => {
        app.log.error(
          { err: error },
          "SQLite checkpoint thread failed, so commits checkpoint the WAL again",
        );
      },
    });
  if (ownsStore) {
    await store.migrate();
  }

  const maxTokenLifetime = config.accessTtl + CLOCK_TOLERANCE_SECONDS;
  const keys = await KeyManager.open({
    store,
    algorithm: config.algorithm,
    hs256Secret: config.hs256Secret,
    keyEncryptionKey: loadKeyEncryptionKey(config.keyEncryptionKeyFile),
    maxTokenLifetimeSeconds: maxTokenLifetime,
    propagationDelaySeconds: config.keyPropagationDelay,
    rotationIntervalSeconds: config.keyRotationInterval,
    clock,
  });

  const revocations = new RevocationList({ retentionSeconds: maxTokenLifetime, clock });
  revocations.apply(await store.loadRevocations(clock() - maxTokenLifetime * 1000));
  const redis =
    config.redisUrl === undefined
      ? undefined
      : await connectRedis(config, {
          store,
          revocations,
          retentionSeconds: maxTokenLifetime,
          clock,
          log: app.log,
        });

  const roles = createRoleMap(options.roles);
  const guard = createGuard({
    issuer: config.publicUrl,
    audience: config.audience,
    algorithms: [config.algorithm],
    keys,
    revocation: redis?.feed ?? revocations,
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    knownRoles: roles.roles,
    realm: "sello",
    clock,
  });

  const metrics = new Metrics(() => keys.signingKeyAgeSeconds());
  const revocationSink = createRevocationSink(revocations, redis?.feed, app.log);
  const audit = new AuditLog(store, clock, (type) => metrics.observeAuditEvent(type));
  const auth = new AuthService({
    store,
    issueAccessToken: createAccessTokenIssuer({
      issuer: config.publicUrl,
      audience: config.audience.length === 1 ? (config.audience[0] as string) : config.audience,
      keys,
      accessTokenTtl: config.accessTtl,
      clientId: config.clientId,
      clock,
    }),
    revocations: revocationSink,
    limiter: createLoginLimiter({
      maxAttemptsPerAccount: config.loginMaxAttemptsPerAccount,
      maxAttemptsPerIp: config.loginMaxAttemptsPerIp,
      windowSeconds: config.loginWindow,
      ...(redis === undefined ? {} : { store: redis.limiterStore }),
      clock,
    }),
    roles,
    audit,
    policy: {
      idleTtl: config.refreshIdleTtl,
      absoluteTtl: config.refreshAbsoluteTtl,
      grace: config.refreshGrace,
      accessTtl: config.accessTtl,
      clientId: config.clientId,
    },
    clock,
  });

  const routes: string[] = [];
  app.addHook("onRoute", (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method !== "HEAD") routes.push(`${method} ${route.url}`);
    }
  });
  const allowedOrigins = new Set([...config.corsOrigins, new URL(config.publicUrl).origin]);
  await installSecurityHeaders(app, {
    allowedOrigins: [...allowedOrigins],
    https: config.tls !== undefined || config.publicUrl.startsWith("https:"),
  });
  installErrorHandlers(app, guard.realm);
  metrics.install(app);
  await installApiDocs(app, {
    publicUrl: config.publicUrl,
    serveUi: config.apiDocs,
    cookieName: config.cookieName,
  });
  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  await app.register(healthRoutes, {
    store,
    ...(redis === undefined ? {} : { checks: [() => redis.checkReady()] }),
  });
  await app.register(wellKnownRoutes, {
    keys,
    publicUrl: config.publicUrl,
    algorithm: config.algorithm,
    registrationOpen: config.registration === "open",
    jwksMaxAge: JWKS_MAX_AGE_SECONDS,
  });
  await app.register(authRoutes, {
    auth,
    guard,
    cookieName: config.cookieName,
    cookieSecure: config.cookieSecure,
    allowedOrigins,
    registrationOpen: config.registration === "open",
    clock,
  });

  const admin = new AdminService({
    store,
    auth,
    revocations: revocationSink,
    roles,
    audit,
    clock,
  });
  await app.register(adminRoutes, {
    admin,
    guard,
    async rotateKeys(actor) {
      const rotation = await keys.rotate();
      await audit.record("admin.keys_rotated", {
        ...actor,
        detail: { kid: rotation.kid, activatesAt: rotation.activatesAt, actor: actor.userId },
      });
      return rotation;
    },
  });

  // Starts the password hashing threads now, and stops them when the last server closes.
  const releasePasswordHashing = retainPasswordHashing(
    config.passwordHashThreads === undefined ? {} : { threads: config.passwordHashThreads },
  );
  try {
    await createFirstAdministrator(auth, config);
  } catch (error) {
    // Close the Redis connections, the hashing threads and the store, which would otherwise keep
    // the process alive after a failed start.
    await app.close();
    await releasePasswordHashing();
    await redis?.close();
    if (ownsStore) {
      await store.close();
    }
    throw error;
  }

  const purgeTimer = setInterval(() => {
    store
      .purgeExpired(clock())
      .catch((error: unknown) => app.log.warn({ err: error }, "purge failed"));
    revocations.prune();
  }, PURGE_INTERVAL_MS);
  purgeTimer.unref();
  const keyTimer = setInterval(() => {
    keys
      .tick()
      .catch((error: unknown) => app.log.warn({ err: error }, "key rotation check failed"));
  }, keyTickInterval(config.keyPropagationDelay));
  keyTimer.unref();

  return {
    app,
    auth,
    guard,
    keys,
    admin,
    store,
    revocations,
    metrics,
    config,
    routes,
    async listen() {
      await app.listen({ host: config.host, port: config.port });
      const address = app.server.address();
      const port = typeof address === "object" && address !== null ? address.port : config.port;
      const scheme = config.tls === undefined ? "http" : "https";
      const host = config.host.includes(":") ? `[${config.host}]` : config.host;
      return `${scheme}://${host}:${port}`;
    },
    async close() {
      clearInterval(purgeTimer);
      clearInterval(keyTimer);
      await app.close();
      await releasePasswordHashing();
      await redis?.close();
      if (ownsStore) {
        await store.close();
      }
    },
  };
}

async function buildApp(
  config: ServerConfig,
  logStream?: NodeJS.WritableStream,
): Promise<FastifyInstance> {
  const app = Fastify({
    logger:
      config.logLevel === "silent"
        ? false
        : {
            level: config.logLevel,
            redact: { paths: REDACTED_LOG_PATHS, censor: "[redacted]" },
            ...(logStream === undefined ? {} : { stream: logStream }),
          },
    genReqId: () => randomUUID(),
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    bodyLimit: config.bodyLimit,
    forceCloseConnections: true,
    return503OnClosing: true,
    clientErrorHandler: answerClientError,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } },
    ...(config.tls === undefined ? {} : { https: { cert: config.tls.cert, key: config.tls.key } }),
  });
  // Bodies are JSON only; Fastify would otherwise also accept text/plain.
  app.removeContentTypeParser("text/plain");
  await app.register(cookie);
  return app;
}

/** Creates the administrator named by SELLO_ADMIN_USERNAME once, when no such user exists. */
async function createFirstAdministrator(auth: AuthService, config: ServerConfig): Promise<void> {
  if (config.admin === undefined) {
    return;
  }
  const existing = await auth.store.findUserByUsername(normaliseUsername(config.admin.username));
  if (existing !== undefined) {
    return;
  }
  try {
    await auth.createUser(config.admin.username, config.admin.password, ["admin"]);
  } catch (error) {
    // Instances that share a database and start at the same moment all try to create the user.
    if (!isSelloError(error, "username_taken")) {
      throw error;
    }
  }
}

/** The Redis-backed parts of a server that shares its state with other instances. */
interface RedisParts {
  feed: RedisRevocationFeed;
  limiterStore: RedisLimiterStore;
  /**
   * Throws `service_unavailable` when this instance cannot serve with Redis right now: its
   * revocation feed is older than the staleness bound, or the login-counter connection is down.
   */
  checkReady(): void;
  close(): Promise<void>;
}

/**
 * Connects the revocation feed and the login-limit counters to Redis. When Redis cannot be
 * reached at start-up, the server still starts. Protected routes then respond with 503 until the
 * feed has synchronised, and logins fail with 503 until the counters are reachable.
 */
async function connectRedis(
  config: ServerConfig,
  context: {
    store: Store;
    revocations: RevocationList;
    retentionSeconds: number;
    clock: () => number;
    log: FastifyBaseLogger;
  },
): Promise<RedisParts> {
  const url = config.redisUrl as string;
  const limiterClient = createRedisConnection(url);
  const feed = createRedisRevocationFeed({
    url,
    prefix: config.redisPrefix,
    list: context.revocations,
    loadSnapshot: (since) => context.store.loadRevocations(since),
    retentionSeconds: context.retentionSeconds,
    clock: context.clock,
    maxStalenessMs: config.revocationMaxStaleness * 1000,
    logger: context.log,
  });

  try {
    await Promise.all([waitUntilReady(limiterClient), feed.waitForSync(5_000)]);
  } catch (error) {
    context.log.warn(
      { err: error },
      "Redis is not reachable yet; protected routes respond with 503 until Redis is reachable",
    );
  }

  const maxStalenessMs = config.revocationMaxStaleness * 1000;
  return {
    feed,
    limiterStore: new RedisLimiterStore({ client: limiterClient, prefix: config.redisPrefix }),
    checkReady() {
      const synced = feed.lastSyncedAt();
      if (synced === undefined || context.clock() - synced > maxStalenessMs) {
        throw new SelloError("service_unavailable", { reason: "revocation_feed_stale" });
      }
      if (limiterClient.status !== "ready") {
        throw new SelloError("service_unavailable", { reason: "redis_unavailable" });
      }
    },
    async close() {
      await feed.close();
      limiterClient.disconnect();
    },
  };
}
