import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname } from "node:path";
import { createRoleMap, RevocationList, type RoleMap, SelloError, type Store } from "@sello/core";
import type { Actor, AdminService } from "../admin-service.js";
import type { AuditLog } from "../audit.js";
import type { AuthService } from "../auth-service.js";
import type { ServerConfig } from "../config/index.js";
import type { KeyManager } from "../key-manager.js";
import { describeDataFolderProblem } from "../start-errors.js";
import type { CliIo } from "./output.js";

/**
 * Clock skew accepted when verifying tokens, in seconds. It equals the tolerance of the server's
 * own guard (CLOCK_TOLERANCE_SECONDS in server.ts), so both accept and reject the same tokens.
 */
export const CLOCK_TOLERANCE_SECONDS = 5;

/** The services the user and revocation commands run on, built as the server builds them. */
export interface CliServices {
  auth: AuthService;
  admin: AdminService;
  audit: AuditLog;
  roles: RoleMap;
  /** The actor that the audit log records for each change. */
  actor: Actor;
}

/** The settings, store and services of a command that works on the configured store. */
export interface CliContext {
  config: ServerConfig;
  store: Store;
  clock: () => number;
  /** Builds the user services on first use. */
  services(): Promise<CliServices>;
  /**
   * Opens the signing keys as the server does on start: this creates the key-encryption key file
   * and a first signing key when they are missing, and promotes a next key that is due.
   */
  keys(): Promise<KeyManager>;
}

/**
 * Loads the settings from SELLO_* variables as the server does, and prints the warnings that
 * the server would log. Throws `invalid_configuration` listing every problem.
 */
export async function loadCliConfig(
  io: CliIo,
  options: { printWarnings?: boolean } = {},
): Promise<ServerConfig> {
  const { ConfigError, loadConfig } = await import("../config/index.js");
  let config: ServerConfig;
  try {
    config = loadConfig(io.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new SelloError("invalid_configuration", { message: error.message, cause: error });
    }
    throw error;
  }
  if (options.printWarnings !== false) {
    for (const warning of config.warnings) {
      io.stderr.write(`sello: warning: ${warning}\n`);
    }
  }
  return config;
}

export interface OpenContextOptions {
  /** Create the database when it does not exist. Only `migrate` does; other commands fail. */
  createDatabase?: boolean;
  /** Print the configuration warnings on stderr. Default true. */
  printWarnings?: boolean;
}

/**
 * Loads the settings, opens and migrates the configured store, runs `action`, and closes the
 * store whatever happens.
 */
export async function withContext<T>(
  io: CliIo,
  action: (context: CliContext) => Promise<T>,
  options: OpenContextOptions = {},
): Promise<T> {
  const config = await loadCliConfig(io, { printWarnings: options.printWarnings !== false });
  const store = await openCliStore(config, options);
  const clock = Date.now;

  let services: Promise<CliServices> | undefined;
  let keys: Promise<KeyManager> | undefined;
  const context: CliContext = {
    config,
    store,
    clock,
    services() {
      services ??= buildServices(config, store, clock);
      return services;
    },
    keys() {
      keys ??= openKeys(config, store, clock);
      return keys;
    },
  };

  try {
    return await action(context);
  } finally {
    await store.close();
  }
}

/** Describes the database for messages, without the password of a PostgreSQL URL. */
export async function describeDatabase(config: ServerConfig): Promise<string> {
  if (config.database.driver === "sqlite") {
    return config.database.filename;
  }
  const { redactUrlPassword } = await import("../config/parsers.js");
  return redactUrlPassword(config.database.url);
}

async function openCliStore(config: ServerConfig, options: OpenContextOptions): Promise<Store> {
  const { database } = config;
  if (database.driver === "sqlite") {
    if (database.filename === ":memory:") {
      throw new SelloError("invalid_configuration", {
        message:
          "SELLO_DATABASE_URL is sqlite::memory:, a database that exists only inside one " +
          "process, so the sello command line cannot reach the server's data. Set " +
          "SELLO_DATABASE_URL to the server's database file, or leave it unset to use sello.db " +
          "in SELLO_DATA_DIR.",
      });
    }
    if (options.createDatabase !== true && !existsSync(database.filename)) {
      throw new SelloError("service_unavailable", {
        reason: "database_missing",
        message:
          `No database exists at ${database.filename}. Run "sello migrate" to create it, or ` +
          "set SELLO_DATA_DIR (or SELLO_DATABASE_URL) to the folder the server uses.",
      });
    }
  }

  const { openStore } = await import("../store/index.js");
  const folder = database.driver === "sqlite" ? dirname(database.filename) : undefined;
  let store: Store;
  try {
    store = openStore(database);
  } catch (error) {
    throw storeOpenError(error, folder);
  }
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw storeOpenError(error, folder);
  }
  return store;
}

function storeOpenError(error: unknown, folder: string | undefined): unknown {
  if (error instanceof SelloError) {
    return error;
  }
  const problem = folder === undefined ? undefined : describeDataFolderProblem(error, folder);
  if (problem !== undefined) {
    return new SelloError("service_unavailable", {
      message: `The database cannot be opened: ${problem}`,
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SelloError("service_unavailable", {
    message: `The database cannot be opened: ${message}`,
    cause: error,
  });
}

async function buildServices(
  config: ServerConfig,
  store: Store,
  clock: () => number,
): Promise<CliServices> {
  const [{ AuthService }, { AdminService }, { AuditLog }, { createLoginLimiter }] =
    await Promise.all([
      import("../auth-service.js"),
      import("../admin-service.js"),
      import("../audit.js"),
      import("../login-limiter.js"),
    ]);

  const maxTokenLifetime = config.accessTtl + CLOCK_TOLERANCE_SECONDS;
  const revocations = new RevocationList({ retentionSeconds: maxTokenLifetime, clock });
  const roles = createRoleMap();
  const audit = new AuditLog(store, clock);
  const auth = new AuthService({
    store,
    // User and revocation commands never open a session, so they never issue a token.
    issueAccessToken: () => {
      throw new SelloError("internal_error", {
        message: "The sello command line does not open sessions.",
      });
    },
    revocations,
    limiter: createLoginLimiter({
      maxAttemptsPerAccount: config.loginMaxAttemptsPerAccount,
      maxAttemptsPerIp: config.loginMaxAttemptsPerIp,
      windowSeconds: config.loginWindow,
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
  const admin = new AdminService({ store, auth, revocations, roles, audit, clock });
  return { auth, admin, audit, roles, actor: cliActor() };
}

/** Creates the audit-log actor of CLI changes: `cli:` and the operating-system user name. */
function cliActor(): Actor {
  let name = "unknown";
  try {
    name = userInfo().username;
  } catch {
    // userInfo throws when the user id has no entry in the password database (some containers).
  }
  return { userId: `cli:${name}`, ip: null, userAgent: "sello-cli" };
}

async function openKeys(config: ServerConfig, store: Store, clock: () => number) {
  const [{ KeyManager }, { loadKeyEncryptionKey }, { KeyDecryptionError }] = await Promise.all([
    import("../key-manager.js"),
    import("../key-encryption-key.js"),
    import("@sello/core/node"),
  ]);

  let keyEncryptionKey: Buffer;
  try {
    keyEncryptionKey = loadKeyEncryptionKey(config.keyEncryptionKeyFile);
  } catch (error) {
    throw new SelloError("invalid_configuration", {
      message: `${(error as Error).message} Check SELLO_KEY_ENCRYPTION_KEY_FILE and the file's permissions.`,
      cause: error,
    });
  }

  try {
    return await KeyManager.open({
      store,
      algorithm: config.algorithm,
      hs256Secret: config.hs256Secret,
      keyEncryptionKey,
      maxTokenLifetimeSeconds: config.accessTtl + CLOCK_TOLERANCE_SECONDS,
      propagationDelaySeconds: config.keyPropagationDelay,
      rotationIntervalSeconds: config.keyRotationInterval,
      clock,
    });
  } catch (error) {
    if (error instanceof KeyDecryptionError) {
      throw new SelloError("invalid_configuration", {
        message:
          `The stored signing key ${error.kid ?? "(unknown kid)"} cannot be decrypted with the ` +
          `key-encryption key in ${config.keyEncryptionKeyFile}: ${error.message} Set ` +
          "SELLO_KEY_ENCRYPTION_KEY_FILE to the file the server uses.",
        cause: error,
      });
    }
    if (error instanceof TypeError) {
      throw new SelloError("invalid_configuration", { message: error.message, cause: error });
    }
    throw error;
  }
}
