import type { Store } from "@sello/core";
import type { DatabaseConfig } from "../config/index.js";
import { openSqliteStore } from "./sqlite.js";

export { KyselyStore } from "./kysely-store.js";
export { openSqliteStore } from "./sqlite.js";

/** Opens the store that SELLO_DATABASE_URL names. */
export function openStore(database: DatabaseConfig): Store {
  if (database.driver === "sqlite") {
    return openSqliteStore(database.filename);
  }
  throw new Error(
    "PostgreSQL is not available in this build yet: set SELLO_DATABASE_URL to a sqlite: URL or leave it unset.",
  );
}
