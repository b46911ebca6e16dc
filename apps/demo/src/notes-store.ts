import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { type Migration, type MigrationProvider, Migrator } from "kysely";

/** The table of the demo's applied migrations, apart from the auth server's `kysely_migration`. */
export const DEMO_MIGRATION_TABLE = "demo_migration";
/** The lock table of the demo's migrations, apart from the auth server's. */
export const DEMO_MIGRATION_LOCK_TABLE = "demo_migration_lock";

/** The maximum length of a note, in Unicode code points. */
export const MAX_NOTE_LENGTH = 500;

/** How many notes `GET /api/notes` returns at most, newest first. */
export const MAX_LISTED_NOTES = 200;

/** The `demo_notes` row. `created_at` is milliseconds since the epoch. */
interface NotesTable {
  id: string;
  body: string;
  author_id: string;
  author_username: string;
  created_at: number;
}

/** The demo's tables, added to the auth server's database. */
export type DemoTables = {
  demo_notes: NotesTable;
};

/** A note as the API returns it. */
export interface Note {
  id: string;
  text: string;
  /** The username of the author when the note was written. */
  author: string;
  authorId: string;
  /** ISO 8601 time in UTC. */
  createdAt: string;
}

/**
 * Migrations of the demo's tables. Column types are ones that SQLite and PostgreSQL both accept:
 * `bigint` stores millisecond times. Add new migrations at the end; never edit one that has run.
 */
const migrations: Record<string, Migration> = {
  "0001_demo_notes": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("demo_notes")
        .addColumn("id", "text", (column) => column.primaryKey())
        .addColumn("body", "text", (column) => column.notNull())
        .addColumn("author_id", "text", (column) => column.notNull())
        .addColumn("author_username", "text", (column) => column.notNull())
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .execute();
      await db.schema
        .createIndex("demo_notes_created_at")
        .on("demo_notes")
        .column("created_at")
        .execute();
    },
  },
};

const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};

export interface NotesStoreOptions {
  /** Milliseconds since the epoch, for note times. Default `Date.now`. */
  clock?: () => number;
  /**
   * The PostgreSQL schema of the auth server's tables, which gets the demo's migration tables
   * too. Without it, Kysely's migrator takes a `demo_migration` table in any schema of the
   * database for its own. Leave it unset for SQLite.
   */
  migrationTableSchema?: string;
}

/**
 * The notes of the demo, in the `demo_notes` table of the auth server's database. Notes keep
 * the author's id and username without a foreign key, so they outlive a deleted account.
 */
export class NotesStore {
  readonly #db: Kysely<DemoTables>;
  readonly #clock: () => number;
  readonly #migrationTableSchema: string | undefined;

  constructor(db: Kysely<DemoTables>, options: NotesStoreOptions = {}) {
    this.#db = db;
    this.#clock = options.clock ?? Date.now;
    this.#migrationTableSchema = options.migrationTableSchema;
  }

  /**
   * Creates or updates the demo's tables. The migrations are recorded in `demo_migration`, so
   * they never mix with the auth server's own migrations.
   */
  async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.#db,
      provider: migrationProvider,
      migrationTableName: DEMO_MIGRATION_TABLE,
      migrationLockTableName: DEMO_MIGRATION_LOCK_TABLE,
      ...(this.#migrationTableSchema === undefined
        ? {}
        : { migrationTableSchema: this.#migrationTableSchema }),
    });
    const { error, results } = await migrator.migrateToLatest();
    if (error !== undefined) {
      const failed = results?.find((result) => result.status === "Error");
      throw new Error(`Demo migration ${failed?.migrationName ?? "(unknown)"} failed.`, {
        cause: error,
      });
    }
  }

  /** Lists the newest notes first, at most `limit`. */
  async list(limit = MAX_LISTED_NOTES): Promise<Note[]> {
    const rows = await this.#db
      .selectFrom("demo_notes")
      .selectAll()
      .orderBy("created_at", "desc")
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    return rows.map(toNote);
  }

  async create(note: { text: string; authorId: string; authorUsername: string }): Promise<Note> {
    const row: NotesTable = {
      id: randomUUID(),
      body: note.text,
      author_id: note.authorId,
      author_username: note.authorUsername,
      created_at: this.#clock(),
    };
    await this.#db.insertInto("demo_notes").values(row).execute();
    return toNote(row);
  }

  /** Deletes a note and reports whether it existed. */
  async delete(id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom("demo_notes").where("id", "=", id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}

function toNote(row: NotesTable): Note {
  return {
    id: row.id,
    text: row.body,
    author: row.author_username,
    authorId: row.author_id,
    createdAt: new Date(row.created_at).toISOString(),
  };
}
