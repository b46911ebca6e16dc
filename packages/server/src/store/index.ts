import type { Store } from "@sello/core";
import type { DatabaseConfig } from "../config/index.js";
import { openPostgresStore } from "./postgres.js";
import { openSqliteStore } from "./sqlite.js";

export { KyselyStore } from "./kysely-store.js";
export { openPostgresStore } from "./postgres.js";
export { openSqliteStore } from "./sqlite.js";

/** Opens the store that SELLO_DATABASE_URL names. */
export function openStore(database: DatabaseConfig): Store {
  if (database.driver === "sqlite") {
    return openSqliteStore(database.filename);
  }
  return openPostgresStore(database.url);
}
