import { type DatabaseConfig, KyselyStore, type SelloServer } from "@sello/server";
import type { Kysely } from "kysely";
import { DEMO_USERS } from "./demo-users.js";
import { notesRoutes } from "./notes-routes.js";
import { type DemoTables, NotesStore } from "./notes-store.js";
import { pageRoutes, readClientScript } from "./pages.js";

export interface DemoOptions {
  /**
   * The source of the browser client's script build. Default: `sello.global.js` from
   * `@sello/client`, which `npm run build -w @sello/client` creates.
   */
  clientScript?: string | Buffer;
  /** Milliseconds since the epoch, for note times. Default `Date.now`. */
  clock?: () => number;
}

/** The parts of the demo that `addDemo` added to the server. */
export interface Demo {
  notes: NotesStore;
}

/**
 * Adds the notes application to a Sello server that is not listening yet: it migrates the
 * `demo_notes` table in the server's own database, and registers the notes API under `/api`
 * and the pages. Call it between `createSelloServer` and `server.listen()`.
 */
export async function addDemo(server: SelloServer, options: DemoOptions = {}): Promise<Demo> {
  if (!(server.store instanceof KyselyStore)) {
    throw new TypeError(
      "The demo keeps its notes in the auth server's SQL database, so it needs the server's " +
        "own SQLite or PostgreSQL store, not a custom one.",
    );
  }

  // The same connection, typed with the demo's tables only: the demo never queries the server's.
  const db = server.store.db as unknown as Kysely<DemoTables>;
  const notes = new NotesStore(db, {
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...postgresSchemaOf(server.config.database),
  });
  await notes.migrate();

  await server.app.register(notesRoutes, {
    prefix: "/api",
    guard: server.guard,
    notes,
    users: server.store,
  });
  await server.app.register(pageRoutes, {
    clientScript: options.clientScript ?? readClientScript(),
    demoAccounts: server.config.createDemoUsers ? DEMO_USERS : [],
  });
  return { notes };
}

/**
 * Returns the PostgreSQL schema that the server's store uses: the URL's `?schema=` parameter,
 * or `public`. SQLite has no schema.
 */
function postgresSchemaOf(database: DatabaseConfig): { migrationTableSchema?: string } {
  if (database.driver !== "postgres") {
    return {};
  }
  return { migrationTableSchema: new URL(database.url).searchParams.get("schema") ?? "public" };
}
