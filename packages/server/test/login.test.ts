import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  expectError,
  getMe,
  login,
  loginForTokens,
  request,
  type TokenBody,
} from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

const PASSWORD = "correct horse battery";
const IDLE_TTL_SECONDS = 7 * 86_400;

describe("POST /auth/login", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "alice", PASSWORD, ["editor"]);
    const disabled = await addUser(running, "dora", PASSWORD);
    await running.server.store.setDisabled(disabled.id, true, running.clock.now);
  });

  afterAll(async () => {
    await running.stop();
  });

  it("returns tokens and refresh cookie", async () => {
    const { response, refreshCookie } = await login(running.url, "alice", PASSWORD);

    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("pragma")).toBe("no-cache");
    expect(Object.keys(response.body).sort()).toEqual([
      "access_token",
      "expires_in",
      "token_type",
      "user",
    ]);
    expect(response.body.token_type).toBe("Bearer");
    expect(response.body.expires_in).toBe(600);
    expect(response.body.access_token.split(".")).toHaveLength(3);
    expect(response.body.user).toEqual({
      id: expect.any(String),
      username: "alice",
      roles: ["editor"],
      permissions: ["notes:read", "notes:write"],
    });
    expect(refreshCookie?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it("body delivery returns refresh token", async () => {
    const { response, refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    expect(refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(response.body.refresh_token_expires_in).toBe(IDLE_TTL_SECONDS);
    expect(response.cookies).toEqual([]);
    expect(response.headers.get("cache-control")).toBe("no-store");
  });

  it("access token works at /auth/me", async () => {
    const { accessToken } = await login(running.url, "alice", PASSWORD);

    const me = await getMe(running.url, accessToken);

    expect(me.status).toBe(200);
    expect(me.body).toEqual({
      id: expect.any(String),
      username: "alice",
      roles: ["editor"],
      permissions: ["notes:read", "notes:write"],
    });
  });

  it("matches username in any case", async () => {
    const { response } = await login(running.url, "ALICE", PASSWORD);

    expect(response.status).toBe(200);
    expect(response.body.user).toMatchObject({ username: "alice" });
  });

  it("rejects wrong password", async () => {
    const { response } = await login(running.url, "alice", "wrong horse battery");

    expectError(response, 401, "invalid_credentials");
    expect(response.cookies).toEqual([]);
  });

  it("rejects unknown username", async () => {
    const { response } = await login(running.url, "nobody", PASSWORD);

    expectError(response, 401, "invalid_credentials");
  });

  it("rejects disabled account", async () => {
    const { response } = await login(running.url, "dora", PASSWORD);

    expectError(response, 401, "invalid_credentials");
    expect(response.cookies).toEqual([]);
  });

  it("rejects impossible username as credentials", async () => {
    const { response } = await login(running.url, "a\u0000b", PASSWORD);

    expectError(response, 401, "invalid_credentials");
  });

  it("rejects over-long password as credentials", async () => {
    // 4,000 characters pass the schema but exceed the 128-character policy, so the server
    // returns the wrong-password error without hashing the input.
    const { response } = await login(running.url, "alice", "x".repeat(4000));

    expectError(response, 401, "invalid_credentials");
  });

  it("rejects password over schema limit", async () => {
    const { response } = await login(running.url, "alice", "x".repeat(4097));

    expectError(response, 400, "validation_failed");
    expect(response.body).toMatchObject({ message: expect.stringContaining('"password"') });
  });

  it("rejects unknown delivery mode", async () => {
    const response = await request<TokenBody>(`${running.url}/auth/login`, {
      method: "POST",
      json: { username: "alice", password: PASSWORD, refresh_token_delivery: "header" },
    });

    expectError(response, 400, "validation_failed");
    expect(response.body).toMatchObject({
      message: expect.stringContaining("refresh_token_delivery"),
    });
  });

  it("rejects missing password field", async () => {
    const response = await request(`${running.url}/auth/login`, {
      method: "POST",
      json: { username: "alice" },
    });

    expectError(response, 400, "validation_failed");
    expect(response.body.message).toBe('The request body lacks the required field "password".');
  });

  it("records success and failure audit events", async () => {
    const since = running.clock.now;
    const { response } = await login(running.url, "alice", PASSWORD);
    await login(running.url, "alice", "wrong horse battery");

    const store = running.server.store;
    const userId = response.body.user.id;
    const successes = await store.listAudit({ type: "login.success", userId, since });
    const failures = await store.listAudit({ type: "login.failure", userId, since });

    expect(successes.length).toBeGreaterThanOrEqual(1);
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures[0]?.detail).toEqual({ reason: "wrong_password" });
    expect(failures[0]?.ip).toBe("127.0.0.1");
  });
});

describe("security: login failures look identical", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "alice", PASSWORD);
    const disabled = await addUser(running, "dora", PASSWORD);
    await running.server.store.setDisabled(disabled.id, true, running.clock.now);
  });

  afterAll(async () => {
    await running.stop();
  });

  /** Sends a failing login and returns what a client can observe, minus the date. */
  async function observe(username: string, password: string) {
    const response = await fetch(`${running.url}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password }),
    });
    const headers = [...response.headers.entries()].filter(
      ([name]) => name !== "date" && name !== "x-request-id",
    );
    return { status: response.status, headers, body: await response.text() };
  }

  it("unknown, wrong and disabled match", async () => {
    const unknown = await observe("nobody", PASSWORD);
    const wrong = await observe("alice", "wrong horse battery");
    const disabled = await observe("dora", "wrong horse battery");
    const disabledRightPassword = await observe("dora", PASSWORD);

    expect(unknown.status).toBe(401);
    expect(JSON.parse(unknown.body)).toEqual({
      error: "invalid_credentials",
      message: "The username or password is incorrect.",
    });
    expect(wrong).toEqual(unknown);
    expect(disabled).toEqual(unknown);
    expect(disabledRightPassword).toEqual(unknown);
  });

  it("sets no cookie on failure", async () => {
    const response = await fetch(`${running.url}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "dora", password: PASSWORD }),
    });

    expect(response.headers.getSetCookie()).toEqual([]);
  });
});
