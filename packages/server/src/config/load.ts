import { join, resolve } from "node:path";
import { ConfigError, InvalidSettingError } from "./errors.js";
import {
  checkDemoUsers,
  checkPathTypes,
  checkProductionTransport,
  checkPublicUrl,
  checkRefreshLifetimes,
  isLocalHttpUrl,
  isLoopbackHost,
  resolveAdmin,
  resolveHs256Secret,
  resolveTls,
} from "./rules.js";
import { SETTINGS, type SettingKey, type SettingValues } from "./settings.js";
import {
  CONFIG_FILE_VARIABLE,
  findMisspelledVariables,
  type RawSetting,
  readConfigFile,
  readEnvironment,
  type SettingSource,
} from "./sources.js";
import { type LoadState, reportValue } from "./state.js";
import type { ServerConfig } from "./types.js";

export interface LoadConfigOptions {
  /** Folder that relative paths are resolved against. Default: `process.cwd()`. */
  cwd?: string;
}

/**
 * Reads the server settings from `SELLO_*` environment variables and from the JSON file named
 * by SELLO_CONFIG, with environment variables taking precedence, and validates them.
 * Empty variables count as unset.
 * Throws a ConfigError that lists every problem found, not only the first.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  options: LoadConfigOptions = {},
): ServerConfig {
  const cwd = resolve(options.cwd ?? process.cwd());
  const problems: string[] = [];

  const configFileName = env[CONFIG_FILE_VARIABLE]?.trim();
  const configFile = configFileName ? resolve(cwd, configFileName) : undefined;
  const fromFile = configFile === undefined ? new Map() : readConfigFile(configFile, problems);
  const raw = new Map<SettingKey, RawSetting>([...fromFile, ...readEnvironment(env)]);

  const state: LoadState = {
    cwd,
    raw,
    values: {},
    sources: defaultSources(),
    problems,
    warnings: findMisspelledVariables(env),
  };
  parseGivenSettings(state);
  applyDefaults(state);

  checkRefreshLifetimes(state);
  const hs256Secret = resolveHs256Secret(state);
  const tls = resolveTls(state);
  const admin = resolveAdmin(state);
  checkPublicUrl(state);
  checkProductionTransport(state);
  checkDemoUsers(state);
  checkPathTypes(state);

  if (problems.length > 0) {
    throw new ConfigError(problems);
  }
  return buildConfig(state, { hs256Secret, tls, admin, configFile });
}

function defaultSources(): Record<SettingKey, SettingSource> {
  const entries = SETTINGS.map((definition) => [definition.fileKey, "default"] as const);
  return Object.fromEntries(entries) as Record<SettingKey, SettingSource>;
}

function parseGivenSettings(state: LoadState): void {
  for (const definition of SETTINGS) {
    const raw = state.raw.get(definition.fileKey);
    if (raw === undefined) {
      continue;
    }

    state.sources[definition.fileKey] = raw.source;
    if (raw.typeProblem !== undefined) {
      state.problems.push(raw.typeProblem);
      continue;
    }

    try {
      setValue(state, definition.fileKey, definition.parse(raw.text, state));
    } catch (error) {
      if (!(error instanceof InvalidSettingError)) {
        throw error;
      }
      reportValue(state, definition.fileKey, error.reason, error.showValue);
    }
  }
}

/** Stores a parsed value. Each parser returns the type of its own key, which TS cannot see here. */
function setValue(state: LoadState, key: SettingKey, value: SettingValues[SettingKey]): void {
  (state.values as Record<SettingKey, unknown>)[key] = value;
}

/** Builds the public URL used when SELLO_PUBLIC_URL is unset. */
export function defaultPublicUrl(port: number): string {
  return `http://localhost:${port}`;
}

/**
 * Fills in the defaults of unset settings: literal ones through the setting's own parser, and
 * derived ones from the settings they depend on, unless those were invalid.
 */
function applyDefaults(state: LoadState): void {
  for (const definition of SETTINGS) {
    const key = definition.fileKey;
    if (state.raw.has(key) || definition.defaultText === undefined) {
      continue;
    }
    setValue(state, key, definition.parse(definition.defaultText, state));
  }

  const values = state.values;
  const isUnset = (key: SettingKey) => !state.raw.has(key);
  if (isUnset("publicUrl") && values.port !== undefined) {
    values.publicUrl = defaultPublicUrl(values.port);
  }
  if (isUnset("audience") && values.publicUrl !== undefined) {
    values.audience = [values.publicUrl];
  }
  if (isUnset("corsOrigins") && values.publicUrl !== undefined) {
    values.corsOrigins = [new URL(values.publicUrl).origin];
  }

  if (isUnset("databaseUrl") && values.dataDir !== undefined) {
    values.databaseUrl = { driver: "sqlite", filename: join(values.dataDir, "sello.db") };
  }
  if (isUnset("keyEncryptionKeyFile") && values.dataDir !== undefined) {
    values.keyEncryptionKeyFile = join(values.dataDir, "key-encryption.key");
  }
}

interface ResolvedParts {
  hs256Secret: string | undefined;
  tls: ServerConfig["tls"];
  admin: ServerConfig["admin"];
  configFile: string | undefined;
}

function buildConfig(state: LoadState, parts: ResolvedParts): ServerConfig {
  const values = state.values;
  const required = <K extends SettingKey>(key: K): SettingValues[K] => {
    const value = values[key];
    if (value === undefined) {
      throw new Error(`Internal error: the setting ${key} has no value after validation.`);
    }
    return value as SettingValues[K];
  };

  const mode = required("mode");
  const host = required("host");
  const publicUrl = required("publicUrl");
  const demoUsers = required("demoUsers");
  const cookieSecure = !(mode === "development" && isLocalHttpUrl(publicUrl));
  const createDemoUsers =
    mode === "development" &&
    (demoUsers === "on" || (demoUsers === "auto" && isLoopbackHost(host)));

  return {
    mode,
    host,
    port: required("port"),
    publicUrl,
    audience: required("audience"),
    clientId: required("clientId"),
    dataDir: required("dataDir"),
    database: required("databaseUrl"),
    redisUrl: values.redisUrl,
    redisPrefix: required("redisPrefix"),
    revocationMaxStaleness: required("revocationMaxStaleness"),
    algorithm: required("algorithm"),
    hs256Secret: parts.hs256Secret,
    keyEncryptionKeyFile: required("keyEncryptionKeyFile"),
    accessTtl: required("accessTtl"),
    refreshIdleTtl: required("refreshIdleTtl"),
    refreshAbsoluteTtl: required("refreshAbsoluteTtl"),
    refreshGrace: required("refreshGrace"),
    corsOrigins: required("corsOrigins"),
    tls: parts.tls,
    trustProxy: values.trustProxy ?? [],
    registration: required("registration"),
    loginMaxAttemptsPerAccount: required("loginMaxAttemptsPerAccount"),
    loginMaxAttemptsPerIp: required("loginMaxAttemptsPerIp"),
    loginWindow: required("loginWindow"),
    bodyLimit: required("bodyLimit"),
    passwordHashThreads: values.passwordHashThreads,
    logLevel: required("logLevel"),
    admin: parts.admin,
    demoUsers,
    createDemoUsers,
    apiDocs:
      required("apiDocs") === "on" || (required("apiDocs") === "auto" && mode === "development"),
    keyRotationInterval: required("keyRotationInterval"),
    keyPropagationDelay: required("keyPropagationDelay"),
    cookieSecure,
    cookieName: cookieSecure ? "__Secure-sello_refresh" : "sello_refresh",
    configFile: parts.configFile,
    sources: { ...state.sources },
    warnings: state.warnings,
  };
}

/**
 * Returns the configuration with `port` set to the port the server actually listens on, for use
 * after listening on port 0. The public URL, audience and CORS origins are derived again from
 * the new port when they are defaults. Explicitly set values are kept.
 */
export function withListenPort(config: ServerConfig, port: number): ServerConfig {
  if (config.sources.publicUrl !== "default") {
    return { ...config, port };
  }

  const publicUrl = defaultPublicUrl(port);
  return {
    ...config,
    port,
    publicUrl,
    audience: config.sources.audience === "default" ? [publicUrl] : config.audience,
    corsOrigins:
      config.sources.corsOrigins === "default" ? [new URL(publicUrl).origin] : config.corsOrigins,
  };
}
