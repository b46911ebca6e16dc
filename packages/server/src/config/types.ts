import type { Algorithm } from "@sello/core";
import type { DatabaseConfig } from "./parsers.js";
import type { DemoUsersMode, LogLevel, Mode, RegistrationMode, SettingKey } from "./settings.js";
import type { SettingSource } from "./sources.js";

/** Certificate and key for HTTPS, read from SELLO_TLS_CERT and SELLO_TLS_KEY. */
export interface TlsConfig {
  /** Absolute path of the PEM certificate chain. */
  readonly certFile: string;
  /** Absolute path of the PEM private key. */
  readonly keyFile: string;
  /** PEM certificate chain. */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
}

/** First administrator, from SELLO_ADMIN_USERNAME and SELLO_ADMIN_PASSWORD. */
export interface AdminAccount {
  readonly username: string;
  readonly password: string;
}

/** The validated server settings that `loadConfig` returns. Durations are whole seconds. */
export interface ServerConfig {
  /** SELLO_MODE. Default `development`. */
  readonly mode: Mode;
  /** SELLO_HOST, the listen address. Default `127.0.0.1`. */
  readonly host: string;
  /** SELLO_PORT, the listen port. Default 3000; 0 picks a free port (see `withListenPort`). */
  readonly port: number;
  /**
   * SELLO_PUBLIC_URL, the token issuer and the base of published URLs, without a trailing
   * slash. Default `http://localhost:<port>`.
   */
  readonly publicUrl: string;
  /** SELLO_AUDIENCE, the `aud` values of access tokens. Default: the public URL. */
  readonly audience: string[];
  /** SELLO_CLIENT_ID, the `client_id` of tokens issued to the browser client. Default `sello-web`. */
  readonly clientId: string;
  /** SELLO_DATA_DIR as an absolute path. Default `var` under the working directory. */
  readonly dataDir: string;
  /** SELLO_DATABASE_URL. Default: the SQLite file `sello.db` in the data folder. */
  readonly database: DatabaseConfig;
  /** SELLO_REDIS_URL. Default: undefined, meaning that no Redis is used. */
  readonly redisUrl: string | undefined;
  /** SELLO_REDIS_PREFIX, the deployment's name in Redis keys. Default `default`. */
  readonly redisPrefix: string;
  /** SELLO_REVOCATION_MAX_STALENESS in seconds, from 2 to 3600. Default 5. */
  readonly revocationMaxStaleness: number;
  /** SELLO_ALGORITHM, the access-token signing algorithm. Default `ES256`. */
  readonly algorithm: Algorithm;
  /**
   * HS256 secret from SELLO_HS256_SECRET, or from the file SELLO_HS256_SECRET_FILE without one
   * trailing newline. Defined exactly when `algorithm` is HS256. Its strength is not checked here.
   */
  readonly hs256Secret: string | undefined;
  /**
   * SELLO_KEY_ENCRYPTION_KEY_FILE as an absolute path. The file may not exist yet.
   * Default `key-encryption.key` in the data folder.
   */
  readonly keyEncryptionKeyFile: string;
  /** SELLO_ACCESS_TTL in seconds, from 30 to 86400. Default 600. */
  readonly accessTtl: number;
  /** SELLO_REFRESH_IDLE_TTL in seconds, from 60 to 365 days. Default 604800 (7 days). */
  readonly refreshIdleTtl: number;
  /**
   * SELLO_REFRESH_ABSOLUTE_TTL in seconds, from `refreshIdleTtl` to 365 days.
   * Default 2592000 (30 days).
   */
  readonly refreshAbsoluteTtl: number;
  /** SELLO_REFRESH_GRACE in seconds, from 0 to 60. Default 10. */
  readonly refreshGrace: number;
  /** SELLO_CORS_ORIGINS in `URL.origin` form. Default: the origin of the public URL. */
  readonly corsOrigins: string[];
  /** HTTPS certificate and key. Default: undefined, meaning that the server listens on plain HTTP. */
  readonly tls: TlsConfig | undefined;
  /**
   * SELLO_TRUST_PROXY entries in the forms proxy-addr accepts, ready for Fastify's
   * `trustProxy`. Default: empty, meaning that no proxy is trusted.
   */
  readonly trustProxy: string[];
  /** SELLO_REGISTRATION. Default `closed`. */
  readonly registration: RegistrationMode;
  /** SELLO_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT, failed logins before delays grow. Default 5. */
  readonly loginMaxAttemptsPerAccount: number;
  /** SELLO_LOGIN_MAX_ATTEMPTS_PER_IP, failed logins per IP address and window. Default 20. */
  readonly loginMaxAttemptsPerIp: number;
  /** SELLO_LOGIN_WINDOW in seconds, from 1 to 86400. Default 900. */
  readonly loginWindow: number;
  /** SELLO_BODY_LIMIT in bytes, from 1024 to 1048576. Default 16384. */
  readonly bodyLimit: number;
  /**
   * SELLO_PASSWORD_HASH_THREADS, from 1 to 64. Default: undefined, meaning one per CPU core that
   * the process may use (`os.availableParallelism()`).
   */
  readonly passwordHashThreads: number | undefined;
  /** SELLO_LOG_LEVEL, a pino level or `silent`. Default `info`. */
  readonly logLevel: LogLevel;
  /** First administrator. Default: undefined, meaning that none is created. */
  readonly admin: AdminAccount | undefined;
  /** SELLO_DEMO_USERS as given. Default `auto`. */
  readonly demoUsers: DemoUsersMode;
  /** SELLO_API_DOCS resolved: whether /docs and /openapi.json are served. Default: in development only. */
  readonly apiDocs: boolean;
  /** SELLO_KEY_ROTATION_INTERVAL in seconds; 0 turns automatic rotation off. Default 7776000 (90 days). */
  readonly keyRotationInterval: number;
  /** SELLO_KEY_PROPAGATION_DELAY in seconds. Default 900 (15 minutes). */
  readonly keyPropagationDelay: number;
  /**
   * Whether to create demo users: in development only, when `demoUsers` is `on`, or when it is
   * `auto` and `host` is a loopback address.
   */
  readonly createDemoUsers: boolean;
  /** Whether cookies get the Secure attribute: false only in development on http://localhost. */
  readonly cookieSecure: boolean;
  /** Refresh cookie name: `__Secure-sello_refresh` when `cookieSecure`, else `sello_refresh`. */
  readonly cookieName: "__Secure-sello_refresh" | "sello_refresh";
  /** Absolute path of the JSON config file named by SELLO_CONFIG, or undefined. */
  readonly configFile: string | undefined;
  /** Source of each setting's value. */
  readonly sources: Readonly<Record<SettingKey, SettingSource>>;
  /** Harmless oddities worth logging at start-up, such as a misspelled `SELLO_*` variable. */
  readonly warnings: string[];
}
