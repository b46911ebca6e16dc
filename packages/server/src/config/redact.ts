import { redactUrlPassword } from "./parsers.js";
import type { ServerConfig } from "./types.js";

const REDACTED = "[redacted]";

/**
 * Returns a copy of the configuration that is safe to log. The HS256 secret and the
 * administrator's password become `[redacted]`, the TLS section keeps only the file paths, and
 * passwords in the database and Redis URLs become `***`.
 */
export function redactConfig(config: ServerConfig): Record<string, unknown> {
  const { database, tls, admin } = config;
  return {
    ...config,
    hs256Secret: config.hs256Secret === undefined ? undefined : REDACTED,
    admin: admin === undefined ? undefined : { username: admin.username, password: REDACTED },
    tls: tls === undefined ? undefined : { certFile: tls.certFile, keyFile: tls.keyFile },
    database:
      database.driver === "postgres"
        ? { driver: "postgres", url: redactUrlPassword(database.url) }
        : database,
    redisUrl: config.redisUrl === undefined ? undefined : redactUrlPassword(config.redisUrl),
  };
}
