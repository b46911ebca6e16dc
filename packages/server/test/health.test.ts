import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { SelloError, type Store } from "@sello/core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openSqliteStore } from "../src/store/index.js";
import { expectError, login, request } from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

const PASSWORD = "correct horse battery";

type Outage = "none" | "unavailable" | "broken";

/**
 * Wraps a store so a test can make every call fail: `unavailable` rejects with the store's own
 * service_unavailable error, `broken` with a plain Error, as a bug would.
 */
function withOutageSwitch(store: Store): { store: Store; set(outage: Outage): void } {
  let outage: Outage = "none";
  const wrapped = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || property === "close") {
        return value;
      }
      return (...args: unknown[]) => {
        if (outage === "unavailable") {
          return Promise.reject(
            new SelloError("service_unavailable", { reason: "store_unavailable" }),
          );
        }
        if (outage === "broken") {
          return Promise.reject(new Error("disk read failed at /var/lib/sello/sello.db"));
        }
        return value.apply(target, args);
      };
    },
  });
  return {
    store: wrapped,
    set(next) {
      outage = next;
    },
  };
}

describe("health endpoints", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
  });

  afterAll(async () => {
    await running.stop();
  });

  it("healthz answers ok", async () => {
    const response = await request(`${running.url}/healthz`);

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: "ok" });
  });

  it("readyz answers ready", async () => {
    const response = await request(`${running.url}/readyz`);

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: "ready" });
  });
});

describe("store outage", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "sello-outage-"));
  const realStore = openSqliteStore(join(dataDir, "sello.db"));
  const outage = withOutageSwitch(realStore);
  let logText = "";
  let running: RunningServer;

  beforeAll(async () => {
    await realStore.migrate();
    const logStream = new PassThrough();
    logStream.on("data", (chunk: Buffer) => {
      logText += chunk.toString("utf8");
    });
    running = await startServer({ SELLO_LOG_LEVEL: "error" }, { store: outage.store, logStream });
    await addUser(running, "alice", PASSWORD);
  });

  beforeEach(() => {
    outage.set("none");
  });

  afterAll(async () => {
    outage.set("none");
    await running.stop();
    await realStore.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("readyz reports unavailable store", async () => {
    outage.set("unavailable");

    const response = await request(`${running.url}/readyz`);

    expectError(response, 503, "service_unavailable");
    expect(response.headers.get("retry-after")).toBe("5");
  });

  it("healthz ignores the store", async () => {
    outage.set("unavailable");

    expect((await request(`${running.url}/healthz`)).status).toBe(200);
  });

  it("login answers service_unavailable", async () => {
    outage.set("unavailable");

    const { response } = await login(running.url, "alice", PASSWORD);

    expectError(response, 503, "service_unavailable");
    expect(response.headers.get("retry-after")).toBe("5");
  });

  it("unexpected failure is a bare 500", async () => {
    outage.set("broken");

    const { response } = await login(running.url, "alice", PASSWORD);

    expectError(response, 500, "internal_error");
    expect(response.body).toEqual({
      error: "internal_error",
      message: "An unexpected error occurred.",
    });
    expect(JSON.stringify(response.body)).not.toContain("/var/lib/sello");
  });

  it("logs the failure detail", async () => {
    outage.set("broken");

    await login(running.url, "alice", PASSWORD);

    expect(logText).toContain("disk read failed");
    expect(logText).toContain('"code":"internal_error"');
  });

  it("recovers when the store returns", async () => {
    outage.set("unavailable");
    await request(`${running.url}/readyz`);
    outage.set("none");

    expect((await request(`${running.url}/readyz`)).status).toBe(200);
    expect((await login(running.url, "alice", PASSWORD)).response.status).toBe(200);
  });
});
