import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { KyselyStore } from "@sello/server";
import { sql } from "kysely";
import { afterEach, describe, expect, it } from "vitest";
import { DEMO_USERS } from "../src/demo-users.js";
import { DEMO_MIGRATION_TABLE } from "../src/notes-store.js";
import { runDemo } from "../src/run.js";
import { type RunningDemo, startDemo } from "../src/start.js";
import { buildClientScript, freePort } from "./helpers/demo.js";

const folders: string[] = [];
const running: RunningDemo[] = [];

function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), "sello-demo-start-"));
  folders.push(folder);
  return folder;
}

/** Settings for a quiet development server on a free loopback port. */
async function baseEnv(dataDir: string): Promise<Record<string, string>> {
  return {
    SELLO_DATA_DIR: dataDir,
    SELLO_HOST: "127.0.0.1",
    SELLO_PORT: String(await freePort()),
    SELLO_LOG_LEVEL: "silent",
  };
}

async function start(env: Record<string, string>) {
  const lines: string[] = [];
  const demo = await startDemo({
    env,
    cwd: env.SELLO_DATA_DIR as string,
    clientScript: await buildClientScript(),
    print: (line) => lines.push(line),
  });
  running.push(demo);
  return { demo, lines };
}

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  return { stream, text: () => Buffer.concat(chunks).toString("utf8") };
}

/** Runs the demo the way `npm start` does, and returns its exit code and output. */
async function run(env: Record<string, string>, stopSignal?: Promise<void>) {
  const stdout = collect();
  const stderr = collect();
  const code = await runDemo(
    {
      stdout: stdout.stream,
      stderr: stderr.stream,
      env,
      stopSignal: stopSignal ?? new Promise(() => undefined),
    },
    { clientScript: await buildClientScript() },
  );
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

afterEach(async () => {
  for (const demo of running.splice(0)) {
    await demo.close();
  }
  for (const folder of folders.splice(0)) {
    rmSync(folder, { recursive: true, force: true });
  }
});

describe("demo start-up", () => {
  it("creates demo users on loopback in development", async () => {
    const env = await baseEnv(tempFolder());
    const { demo, lines } = await start(env);

    expect(lines[0]).toBe(`Sello demo in development mode, listening on ${demo.url}`);
    expect(lines[1]).toBe(`Open http://localhost:${env.SELLO_PORT} in a browser.`);
    expect(lines[2]).toBe(
      "Demo users with public passwords " +
        "(they exist only in development mode on a loopback address):",
    );
    for (const user of DEMO_USERS) {
      const line = lines.find((candidate) => candidate.trim().startsWith(`${user.username} `));
      expect(line, user.username).toContain(`password ${user.password}`);
      expect(line, user.username).toContain(`role ${user.role}`);
      expect(line, user.username).toContain("(created now)");

      const stored = await demo.server.store.findUserByUsername(user.username);
      expect(stored?.roles, user.username).toEqual([user.role]);
    }
  });

  it("keeps demo users and notes across restarts", async () => {
    const env = await baseEnv(tempFolder());
    const first = await start(env);
    await first.demo.notes.create({ text: "Survives", authorId: "seed", authorUsername: "admin" });
    await first.demo.close();
    running.splice(running.indexOf(first.demo), 1);

    const second = await start(env);

    const unchanged = second.lines.filter((line) =>
      line.endsWith("(already existed, left unchanged)"),
    );
    expect(unchanged).toHaveLength(DEMO_USERS.length);
    expect((await second.demo.notes.list()).map((note) => note.text)).toEqual(["Survives"]);
  });

  it("keeps its migrations apart from the server's", async () => {
    const { demo } = await start(await baseEnv(tempFolder()));
    expect(demo.server.store).toBeInstanceOf(KyselyStore);
    const { db } = demo.server.store as KyselyStore;

    const tables = await sql<{ name: string }>`
      select name from sqlite_master where type = 'table' order by name`.execute(db);
    const names = tables.rows.map((row) => row.name);
    expect(names).toEqual(expect.arrayContaining(["demo_notes", DEMO_MIGRATION_TABLE, "users"]));

    const demoMigrations = await sql<{ name: string }>`
      select name from demo_migration order by name`.execute(db);
    expect(demoMigrations.rows.map((row) => row.name)).toEqual(["0001_demo_notes"]);
    const serverMigrations = await sql<{ name: string }>`
      select name from kysely_migration order by name`.execute(db);
    expect(serverMigrations.rows.map((row) => row.name)).not.toContain("0001_demo_notes");
    expect(serverMigrations.rows.length).toBeGreaterThan(0);
  });

  it("creates no demo users in production", async () => {
    const env = {
      ...(await baseEnv(tempFolder())),
      SELLO_MODE: "production",
      SELLO_PUBLIC_URL: "https://notes.example.test",
      SELLO_TRUST_PROXY: "127.0.0.1",
      SELLO_ADMIN_USERNAME: "first-admin",
      SELLO_ADMIN_PASSWORD: "granite meadow copper 81",
    };
    const { demo, lines } = await start(env);

    expect(lines[0]).toBe(`Sello demo in production mode, listening on ${demo.url}`);
    expect(lines[2]).toBe(
      "No demo users in production mode. The first administrator comes from " +
        "SELLO_ADMIN_USERNAME and SELLO_ADMIN_PASSWORD.",
    );
    expect(lines.join("\n")).not.toContain("granite meadow copper 81");
    for (const user of DEMO_USERS) {
      expect(await demo.server.store.findUserByUsername(user.username), user.username).toBe(
        undefined,
      );
    }
    expect((await demo.server.store.findUserByUsername("first-admin"))?.roles).toEqual(["admin"]);
    const accounts = await demo.server.app.inject({ method: "GET", url: "/demo/accounts" });
    expect(accounts.json()).toEqual({ accounts: [] });
  });

  it("creates no demo users when turned off", async () => {
    const env = { ...(await baseEnv(tempFolder())), SELLO_DEMO_USERS: "off" };
    const { demo, lines } = await start(env);

    expect(lines[2]).toBe("No demo users: SELLO_DEMO_USERS is off.");
    expect(await demo.server.store.findUserByUsername("admin")).toBe(undefined);
  });

  it("stops on the stop signal", async () => {
    const env = await baseEnv(tempFolder());
    const result = await run(env, new Promise((resolve) => setTimeout(resolve, 200)));

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      "Sello demo in development mode, listening on http://127.0.0.1:",
    );
    expect(result.stdout.trimEnd().split("\n").at(-1)).toBe("Sello demo stopped.");
    expect(result.stderr).toBe("");
  });

  it("reports a port in use", async () => {
    const env = await baseEnv(tempFolder());
    const blocker = await listenOn(Number(env.SELLO_PORT));
    try {
      const result = await run(env);

      expect(result.code).toBe(69);
      expect(result.stderr).toBe(
        `sello-demo: port ${env.SELLO_PORT} on 127.0.0.1 is already in use. Stop the other ` +
          "process or set SELLO_PORT to a free port.\n",
      );
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("reports a data folder that cannot be written", async () => {
    const file = join(tempFolder(), "a-file");
    writeFileSync(file, "not a folder");
    const dataDir = join(file, "var");

    const result = await run(await baseEnv(dataDir));

    expect(result.code).toBe(69);
    expect(result.stderr).toBe(
      `sello-demo: cannot start: the data folder ${dataDir} cannot be created or written ` +
        "(ENOTDIR). Fix its permissions or set SELLO_DATA_DIR to a writable folder.\n",
    );
  });

  it("reports invalid settings", async () => {
    const env = { ...(await baseEnv(tempFolder())), SELLO_PORT: "three thousand" };

    const result = await run(env);

    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(/^sello-demo: .*SELLO_PORT/s);
    expect(result.stdout).toBe("");
  });
});
