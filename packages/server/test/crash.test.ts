import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { type RunningCli, startCli } from "./helpers/cli.js";
import { getMe, loginForTokens, refreshWithBody } from "./helpers/http.js";
import { freePort } from "./helpers/server.js";

const ADMIN = "crash-admin";
const ADMIN_PASSWORD = "crash test passphrase 42";
const SESSIONS = 16;
/** Successful refreshes after which the server is killed, while the burst is still running. */
const KILL_AFTER_REFRESHES = 80;
/** Upper bound on refreshes per session, so the burst ends even if the kill is late. */
const MAX_REFRESHES_PER_SESSION = 200;

describe("SIGKILL during a refresh burst", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sello-crash-"));
  const started: RunningCli[] = [];

  afterAll(async () => {
    for (const cli of started) {
      await cli.kill();
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("keeps every acknowledged rotation", async () => {
    const env = {
      SELLO_DATA_DIR: dataDir,
      SELLO_PORT: String(await freePort()),
      SELLO_HOST: "127.0.0.1",
      SELLO_LOG_LEVEL: "error",
      SELLO_DEMO_USERS: "off",
      SELLO_ADMIN_USERNAME: ADMIN,
      SELLO_ADMIN_PASSWORD: ADMIN_PASSWORD,
      // The longest grace allowed: a refresh that committed but whose response was lost in the
      // kill must still count as a retry of the last acknowledged token, not as reuse.
      SELLO_REFRESH_GRACE: "60s",
    };

    const first = await startCli(env);
    started.push(first);
    const latest: string[] = [];
    for (let index = 0; index < SESSIONS; index++) {
      latest.push((await loginForTokens(first.url, ADMIN, ADMIN_PASSWORD)).refreshToken);
    }

    let acknowledged = 0;
    let interrupted = 0;
    let killed: Promise<unknown> | undefined;
    const burst = latest.map(async (_, session) => {
      for (let round = 0; round < MAX_REFRESHES_PER_SESSION; round++) {
        let response: Awaited<ReturnType<typeof refreshWithBody>>;
        try {
          response = await refreshWithBody(first.url, latest[session] as string);
        } catch {
          interrupted += 1;
          return;
        }
        expect(response.status).toBe(200);
        latest[session] = response.body.refresh_token as string;
        acknowledged += 1;
        if (acknowledged === KILL_AFTER_REFRESHES) {
          killed = first.kill();
        }
      }
    });
    await Promise.all(burst);
    const exit = await (killed ?? first.kill());

    expect(acknowledged).toBeGreaterThanOrEqual(KILL_AFTER_REFRESHES);
    expect(exit).toMatchObject({ signal: "SIGKILL" });
    // Every session's loop was cut short by the kill, so requests were in flight when it came.
    expect(interrupted).toBe(SESSIONS);

    const second = await startCli(env);
    started.push(second);
    for (const token of latest) {
      const response = await refreshWithBody(second.url, token);
      expect(response.status).toBe(200);
      expect((await getMe(second.url, response.body.access_token)).status).toBe(200);
    }
    expect((await second.stop()).code).toBe(0);

    const database = new Database(join(dataDir, "sello.db"), { readonly: true });
    try {
      expect(database.pragma("integrity_check", { simple: true })).toBe("ok");
    } finally {
      database.close();
    }
  });
});
