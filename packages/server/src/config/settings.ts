import { ALGORITHMS, type Algorithm } from "@sello/core";
import {
  type DatabaseConfig,
  durationParser,
  enumParser,
  formatDuration,
  integerParser,
  type Parser,
  parseAudience,
  parseClientId,
  parseDatabaseUrl,
  parseHost,
  parseOrigins,
  parsePath,
  parsePublicUrl,
  parseRedisPrefix,
  parseRedisUrl,
  parseSecret,
  parseText,
  parseTrustProxy,
} from "./parsers.js";

export const MODES = ["development", "production"] as const;
export type Mode = (typeof MODES)[number];

export const REGISTRATION_MODES = ["open", "closed"] as const;
export type RegistrationMode = (typeof REGISTRATION_MODES)[number];

/** The levels pino accepts, from most to least severe, and `silent`. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const DEMO_USERS_MODES = ["auto", "on", "off"] as const;

export const API_DOCS_MODES = ["auto", "on", "off"] as const;
export type ApiDocsMode = (typeof API_DOCS_MODES)[number];
export type DemoUsersMode = (typeof DEMO_USERS_MODES)[number];

const DAY = 86_400;

/** The parsed value of each setting, by its config file key. */
export interface SettingValues {
  mode: Mode;
  host: string;
  port: number;
  publicUrl: string;
  audience: string[];
  clientId: string;
  dataDir: string;
  databaseUrl: DatabaseConfig;
  redisUrl: string;
  redisPrefix: string;
  revocationMaxStaleness: number;
  algorithm: Algorithm;
  hs256Secret: string;
  hs256SecretFile: string;
  keyEncryptionKeyFile: string;
  accessTtl: number;
  refreshIdleTtl: number;
  refreshAbsoluteTtl: number;
  refreshGrace: number;
  corsOrigins: string[];
  tlsCert: string;
  tlsKey: string;
  trustProxy: string[];
  registration: RegistrationMode;
  loginMaxAttemptsPerAccount: number;
  loginMaxAttemptsPerIp: number;
  loginWindow: number;
  bodyLimit: number;
  passwordHashThreads: number;
  logLevel: LogLevel;
  adminUsername: string;
  adminPassword: string;
  demoUsers: DemoUsersMode;
  apiDocs: ApiDocsMode;
  keyRotationInterval: number;
  keyPropagationDelay: number;
}

/** A config file key, which is also the setting's name in code. */
export type SettingKey = keyof SettingValues;

/** One row of the settings table. */
export interface SettingDefinition<K extends SettingKey = SettingKey> {
  /** Key in the JSON config file named by SELLO_CONFIG. */
  readonly fileKey: K;
  /** Environment variable. */
  readonly env: `SELLO_${string}`;
  /**
   * Text used when the setting is unset, parsed like a given value. Undefined when the default
   * is derived from other settings or when there is none (see `defaultDescription`).
   */
  readonly defaultText: string | undefined;
  /** Default as shown in the docs: the literal default in backticks, a derivation, or `none`. */
  readonly defaultDescription: string;
  /** Unit, format or range, for the docs. Enumerations use `allowed` instead. */
  readonly unit: string;
  /** Exact values accepted by an enumeration. */
  readonly allowed?: readonly string[];
  /** One-line meaning, for the docs. */
  readonly description: string;
  /** True for lists, which accept a comma-separated string or, in the file, a JSON array. */
  readonly list: boolean;
  /** True for secrets, which are neither trimmed nor shown in messages. */
  readonly secret: boolean;
  readonly parse: Parser<SettingValues[K]>;
}

interface SettingOptions<K extends SettingKey>
  extends Omit<
    SettingDefinition<K>,
    "fileKey" | "env" | "defaultText" | "defaultDescription" | "list" | "secret"
  > {
  readonly default?: string;
  readonly derivedDefault?: string;
  readonly list?: boolean;
  readonly secret?: boolean;
}

function setting<K extends SettingKey>(
  env: `SELLO_${string}`,
  fileKey: K,
  options: SettingOptions<K>,
): SettingDefinition<K> {
  const { default: defaultText, derivedDefault, list = false, secret = false, ...rest } = options;
  let defaultDescription = "none";
  if (defaultText !== undefined) {
    defaultDescription = `\`${defaultText}\``;
  } else if (derivedDefault !== undefined) {
    defaultDescription = derivedDefault;
  }
  return { env, fileKey, defaultText, defaultDescription, list, secret, ...rest };
}

function enumSetting<K extends SettingKey, const V extends SettingValues[K] & string>(
  env: `SELLO_${string}`,
  fileKey: K,
  allowed: readonly V[],
  options: Omit<SettingOptions<K>, "parse" | "unit" | "allowed">,
): SettingDefinition<K> {
  return setting(env, fileKey, {
    ...options,
    unit: "",
    allowed,
    parse: enumParser(allowed),
  });
}

/** Bounds of the duration settings, in seconds. */
export const DURATION_BOUNDS = {
  accessTtl: { min: 30, max: DAY },
  refreshIdleTtl: { min: 60, max: 365 * DAY },
  refreshAbsoluteTtl: { min: 60, max: 365 * DAY },
  refreshGrace: { min: 0, max: 60 },
  loginWindow: { min: 1, max: DAY },
  keyRotationInterval: { min: 0, max: 3650 * DAY },
  keyPropagationDelay: { min: 0, max: DAY },
  revocationMaxStaleness: { min: 2, max: 3600 },
} as const satisfies Partial<Record<SettingKey, { min: number; max: number }>>;

function durationSetting<K extends keyof typeof DURATION_BOUNDS>(
  env: `SELLO_${string}`,
  fileKey: K,
  options: { default: string; description: string },
): SettingDefinition<K> {
  const { min, max } = DURATION_BOUNDS[fileKey];
  const parse = durationParser(min, max, options.default) as Parser<SettingValues[K]>;
  return setting(env, fileKey, { ...options, unit: durationUnit(min, max), parse });
}

function durationUnit(min: number, max: number): string {
  return `seconds, or a number with s, m, h, d or w; ${formatDuration(min)} to ${formatDuration(max)}`;
}

/**
 * Every server setting: its environment variable, config file key, parser, default, unit and
 * meaning. `loadConfig` reads and validates settings from this table, and docs/configuration.md
 * shows the same table (a test keeps the two in step).
 */
export const SETTINGS: readonly SettingDefinition[] = [
  enumSetting("SELLO_MODE", "mode", MODES, {
    default: "development",
    description:
      "Run mode. Production requires HTTPS and secure cookies and never creates demo users.",
  }),
  setting("SELLO_HOST", "host", {
    default: "127.0.0.1",
    unit: "IP address or host name",
    description: "Address to listen on. Use 0.0.0.0 or :: to accept connections from other hosts.",
    parse: parseHost,
  }),
  setting("SELLO_PORT", "port", {
    default: "3000",
    unit: "integer, 0 to 65535",
    description: "TCP port to listen on. 0 picks a free port.",
    parse: integerParser(0, 65_535, 3000),
  }),
  setting("SELLO_PUBLIC_URL", "publicUrl", {
    derivedDefault: "`http://localhost:<port>`",
    unit: "absolute http(s) URL, no query or fragment",
    description:
      "URL that clients use to reach the server. It is the token issuer and the base of every published URL.",
    parse: parsePublicUrl,
  }),
  setting("SELLO_AUDIENCE", "audience", {
    derivedDefault: "the public URL",
    unit: "comma-separated list",
    description: "Audience (`aud`) values put in access tokens.",
    list: true,
    parse: parseAudience,
  }),
  setting("SELLO_CLIENT_ID", "clientId", {
    default: "sello-web",
    unit: "printable ASCII, no spaces",
    description: "`client_id` claim of the tokens issued to the browser client.",
    parse: parseClientId,
  }),
  setting("SELLO_DATA_DIR", "dataDir", {
    default: "var",
    unit: "folder path",
    description: "Folder for the SQLite database and the key files.",
    parse: parsePath,
  }),
  setting("SELLO_DATABASE_URL", "databaseUrl", {
    derivedDefault: "`sqlite:<data dir>/sello.db`",
    unit: "`sqlite:PATH`, `sqlite::memory:` or `postgres://` URL",
    description: "Database to store users and sessions in.",
    parse: parseDatabaseUrl,
  }),
  setting("SELLO_REDIS_URL", "redisUrl", {
    unit: "`redis://` or `rediss://` URL",
    description: "Redis server to connect to. Unset means that no Redis is used.",
    parse: parseRedisUrl,
  }),
  setting("SELLO_REDIS_PREFIX", "redisPrefix", {
    default: "default",
    unit: "1 to 64 letters, digits, `_` or `-`",
    description:
      "Name of this deployment in Redis keys (`sello:<prefix>:…`), so deployments sharing a Redis never mix their counters and revocations.",
    parse: parseRedisPrefix,
  }),
  durationSetting("SELLO_REVOCATION_MAX_STALENESS", "revocationMaxStaleness", {
    default: "5s",
    description:
      "With Redis: how long revocation checks keep answering after the revocation feed lost Redis. After that, protected routes answer 503 until Redis is back.",
  }),
  enumSetting("SELLO_ALGORITHM", "algorithm", ALGORITHMS, {
    default: "ES256",
    description: "Algorithm that signs access tokens.",
  }),
  setting("SELLO_HS256_SECRET", "hs256Secret", {
    unit: "text",
    description: "Shared secret for HS256. Prefer SELLO_HS256_SECRET_FILE.",
    secret: true,
    parse: parseSecret,
  }),
  setting("SELLO_HS256_SECRET_FILE", "hs256SecretFile", {
    unit: "file path",
    description: "File that contains the HS256 secret. One trailing newline is removed.",
    parse: parsePath,
  }),
  setting("SELLO_KEY_ENCRYPTION_KEY_FILE", "keyEncryptionKeyFile", {
    derivedDefault: "`<data dir>/key-encryption.key`",
    unit: "file path",
    description:
      "File that contains the key that encrypts private signing keys at rest. The server creates it when missing.",
    parse: parsePath,
  }),
  durationSetting("SELLO_ACCESS_TTL", "accessTtl", {
    default: "10m",
    description: "Lifetime of an access token.",
  }),
  durationSetting("SELLO_REFRESH_IDLE_TTL", "refreshIdleTtl", {
    default: "7d",
    description: "A session ends when it has not been refreshed for this long.",
  }),
  durationSetting("SELLO_REFRESH_ABSOLUTE_TTL", "refreshAbsoluteTtl", {
    default: "30d",
    description:
      "A session ends this long after login, however often it is refreshed. At least SELLO_REFRESH_IDLE_TTL.",
  }),
  durationSetting("SELLO_REFRESH_GRACE", "refreshGrace", {
    default: "10s",
    description:
      "How long a refresh token that was just rotated may be used again without revoking the session.",
  }),
  setting("SELLO_CORS_ORIGINS", "corsOrigins", {
    derivedDefault: "origin of the public URL",
    unit: "comma-separated origins, `*` rejected",
    description: "Browser origins allowed to call the server with credentials.",
    list: true,
    parse: parseOrigins,
  }),
  setting("SELLO_TLS_CERT", "tlsCert", {
    unit: "PEM file path",
    description: "Certificate chain for HTTPS. Set it together with SELLO_TLS_KEY.",
    parse: parsePath,
  }),
  setting("SELLO_TLS_KEY", "tlsKey", {
    unit: "PEM file path",
    description: "Private key for HTTPS. Set it together with SELLO_TLS_CERT.",
    parse: parsePath,
  }),
  setting("SELLO_TRUST_PROXY", "trustProxy", {
    unit: "comma-separated addresses, CIDR ranges, `loopback`, `linklocal`, `uniquelocal`",
    description:
      "TLS-terminating proxies whose X-Forwarded-* headers (client address, scheme, host) are trusted.",
    list: true,
    parse: parseTrustProxy,
  }),
  enumSetting("SELLO_REGISTRATION", "registration", REGISTRATION_MODES, {
    default: "closed",
    description:
      "`open` lets anyone register an account, and `closed` turns self-registration off.",
  }),
  setting("SELLO_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT", "loginMaxAttemptsPerAccount", {
    default: "5",
    unit: "integer, 1 to 1000",
    description:
      "Failed logins for one account within the login window before the delay between attempts starts growing.",
    parse: integerParser(1, 1000, 5),
  }),
  setting("SELLO_LOGIN_MAX_ATTEMPTS_PER_IP", "loginMaxAttemptsPerIp", {
    default: "20",
    unit: "integer, 1 to 1000",
    description: "Failed logins from one IP address allowed within the login window.",
    parse: integerParser(1, 1000, 20),
  }),
  durationSetting("SELLO_LOGIN_WINDOW", "loginWindow", {
    default: "15m",
    description: "Time window in which failed logins are counted.",
  }),
  setting("SELLO_BODY_LIMIT", "bodyLimit", {
    default: "16384",
    unit: "bytes, 1024 to 1048576",
    description: "Maximum request body size. Larger bodies are rejected with 413.",
    parse: integerParser(1024, 1_048_576, 16_384),
  }),
  setting("SELLO_PASSWORD_HASH_THREADS", "passwordHashThreads", {
    derivedDefault: "one per CPU core",
    unit: "integer, 1 to 64",
    description:
      "Threads that hash and verify passwords, at the lowest scheduling priority (Linux), so that the thread serving other requests gets a core first. Up to 128 password checks per thread wait for a free one; further logins get 503.",
    parse: integerParser(1, 64, 2),
  }),
  enumSetting("SELLO_LOG_LEVEL", "logLevel", LOG_LEVELS, {
    default: "info",
    description: "Minimum level of the log records written.",
  }),
  setting("SELLO_ADMIN_USERNAME", "adminUsername", {
    unit: "text",
    description:
      "User name of the first administrator, created once at first start. Set it together with SELLO_ADMIN_PASSWORD.",
    parse: parseText,
  }),
  setting("SELLO_ADMIN_PASSWORD", "adminPassword", {
    unit: "text",
    description: "Password of the first administrator.",
    secret: true,
    parse: parseSecret,
  }),
  enumSetting("SELLO_DEMO_USERS", "demoUsers", DEMO_USERS_MODES, {
    default: "auto",
    description:
      "Demo users of the demo application that `npm start` serves (`sello serve` creates none): `auto` creates them in development when the host is a loopback address, `on` in development on any host, `off` never.",
  }),
  enumSetting("SELLO_API_DOCS", "apiDocs", API_DOCS_MODES, {
    default: "auto",
    description:
      "Swagger UI at /docs and the OpenAPI document at /openapi.json: `auto` serves them in development only, `on` always, `off` never.",
  }),
  durationSetting("SELLO_KEY_ROTATION_INTERVAL", "keyRotationInterval", {
    default: "90d",
    description:
      "Age at which the signing key is rotated automatically; 0 turns automatic rotation off.",
  }),
  durationSetting("SELLO_KEY_PROPAGATION_DELAY", "keyPropagationDelay", {
    default: "15m",
    description:
      "Time a new key is published in the JWKS before it signs. Keep it longer than resource servers cache the JWKS.",
  }),
];

/** Finds a setting by its config file key. */
export function settingByKey<K extends SettingKey>(key: K): SettingDefinition<K> {
  const definition = SETTINGS.find((candidate) => candidate.fileKey === key);
  if (definition === undefined) {
    throw new Error(`Internal error: no setting with the file key ${key}.`);
  }
  return definition as SettingDefinition<K>;
}
