import type { Store } from "@sello/core";
import type { DatabaseConfig } from "../config/index.js";
import { openPostgresStore } from "./postgres.js";
import { openSqliteStore, type SqliteStoreOptions } from "./sqlite.js";

export { KyselyStore } from "./kysely-store.js";
export { openPostgresStore } from "./postgres.js";
export { openSqliteStore, type SqliteStoreOptions } from "./sqlite.js";

/**
 * Opens the store that SELLO_DATABASE_URL names. A PostgreSQL URL may carry `?schema=NAME` to
 * keep Sello's tables in a schema of their own (created when missing); the default is `public`.
 */
export function openStore(database: DatabaseConfig, sqlite: SqliteStoreOptions = {}): Store {
  if (database.driver === "sqlite") {
    return openSqliteStore(database.filename, sqlite);
  }
  const url = new URL(database.url);
  const schema = url.searchParams.get("schema");
  url.searchParams.delete("schema");
  return openPostgresStore(url.toString(), schema === null ? {} : { schema });
}
