import type { Kysely, Migration, MigrationProvider } from "kysely";

/**
 * Schema migrations, shared by SQLite and PostgreSQL. Column types are ones both accept:
 * `bigint` stores millisecond times (SQLite stores it as a 64-bit integer), `integer` stores flags.
 * Add new migrations at the end; never edit one that has shipped.
 */
const migrations: Record<string, Migration> = {
  "0001_initial": {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable("users")
        .addColumn("id", "text", (column) => column.primaryKey())
        .addColumn("username", "text", (column) => column.notNull().unique())
        .addColumn("password_hash", "text", (column) => column.notNull())
        .addColumn("roles", "text", (column) => column.notNull())
        .addColumn("disabled", "integer", (column) => column.notNull().defaultTo(0))
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .addColumn("updated_at", "bigint", (column) => column.notNull())
        .addColumn("revoked_before", "bigint")
        .execute();

      await db.schema
        .createTable("sessions")
        .addColumn("id", "text", (column) => column.primaryKey())
        .addColumn("user_id", "text", (column) =>
          column.notNull().references("users.id").onDelete("cascade"),
        )
        .addColumn("client_id", "text", (column) => column.notNull())
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .addColumn("last_used_at", "bigint", (column) => column.notNull())
        .addColumn("idle_expires_at", "bigint", (column) => column.notNull())
        .addColumn("absolute_expires_at", "bigint", (column) => column.notNull())
        .addColumn("revoked_at", "bigint")
        .addColumn("revoked_reason", "text")
        .addColumn("ip", "text")
        .addColumn("user_agent", "text")
        .execute();
      await db.schema.createIndex("sessions_user_id").on("sessions").column("user_id").execute();
      await db.schema
        .createIndex("sessions_revoked_at")
        .on("sessions")
        .column("revoked_at")
        .execute();

      await db.schema
        .createTable("refresh_tokens")
        .addColumn("hash", "text", (column) => column.primaryKey())
        .addColumn("session_id", "text", (column) =>
          column.notNull().references("sessions.id").onDelete("cascade"),
        )
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .addColumn("rotated_at", "bigint")
        .addColumn("successor_hash", "text")
        .addColumn("sealed_successor", "text")
        .execute();
      await db.schema
        .createIndex("refresh_tokens_session_id")
        .on("refresh_tokens")
        .column("session_id")
        .execute();

      await db.schema
        .createTable("denied_tokens")
        .addColumn("jti", "text", (column) => column.primaryKey())
        .addColumn("expires_at", "bigint", (column) => column.notNull())
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .execute();

      await db.schema
        .createTable("signing_keys")
        .addColumn("kid", "text", (column) => column.primaryKey())
        .addColumn("alg", "text", (column) => column.notNull())
        .addColumn("state", "text", (column) => column.notNull())
        .addColumn("sealed_private_key", "text", (column) => column.notNull())
        .addColumn("created_at", "bigint", (column) => column.notNull())
        .addColumn("activated_at", "bigint")
        .addColumn("retired_at", "bigint")
        .addColumn("verify_until", "bigint")
        .execute();

      await db.schema
        .createTable("audit_events")
        .addColumn("id", "text", (column) => column.primaryKey())
        .addColumn("time", "bigint", (column) => column.notNull())
        .addColumn("type", "text", (column) => column.notNull())
        .addColumn("user_id", "text")
        .addColumn("session_id", "text")
        .addColumn("ip", "text")
        .addColumn("user_agent", "text")
        .addColumn("detail", "text", (column) => column.notNull())
        .execute();
      await db.schema.createIndex("audit_events_time").on("audit_events").column("time").execute();
      await db.schema
        .createIndex("audit_events_user_id")
        .on("audit_events")
        .column("user_id")
        .execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
