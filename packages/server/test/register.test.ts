import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError, login, request } from "./helpers/http.js";
import { type RunningServer, startServer } from "./helpers/server.js";

const PASSWORD = "xyzzy plover twisty";

async function register(running: RunningServer, body: unknown) {
  return request<{ user: Record<string, unknown> }>(`${running.url}/auth/register`, {
    method: "POST",
    json: body,
  });
}

describe("POST /auth/register when closed", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
  });

  afterAll(async () => {
    await running.stop();
  });

  it("answers not_found", async () => {
    const response = await register(running, { username: "bob", password: PASSWORD });

    expectError(response, 404, "not_found");
    expect(response.body).toMatchObject({
      message: "Registration is not enabled on this server.",
    });
  });

  it("creates no account", async () => {
    await register(running, { username: "carol", password: PASSWORD });

    expectError((await login(running.url, "carol", PASSWORD)).response, 401, "invalid_credentials");
  });
});

describe("POST /auth/register when open", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer({ SELLO_REGISTRATION: "open" });
  });

  afterAll(async () => {
    await running.stop();
  });

  it("creates a viewer account", async () => {
    const response = await register(running, { username: "Bob", password: PASSWORD });

    expect(response.status).toBe(201);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.body).toEqual({
      user: {
        id: expect.any(String),
        username: "bob",
        roles: ["viewer"],
        permissions: ["notes:read"],
      },
    });
    expect(response.cookies).toEqual([]);
  });

  it("new account can log in", async () => {
    await register(running, { username: "dave", password: PASSWORD });

    const { response } = await login(running.url, "dave", PASSWORD);

    expect(response.status).toBe(200);
    expect(response.body.user).toMatchObject({ username: "dave", roles: ["viewer"] });
  });

  it("rejects taken username in any case", async () => {
    await register(running, { username: "erin", password: PASSWORD });

    for (const username of ["erin", "ERIN", "Erin"]) {
      const response = await register(running, { username, password: "another fine passphrase" });
      expectError(response, 409, "username_taken");
    }
    expect((await login(running.url, "erin", PASSWORD)).response.status).toBe(200);
  });

  it("rejects weak passwords", async () => {
    const cases = [
      ["short", "The password must be at least 8 characters long."],
      [
        "password123",
        "The password is on a list of commonly used passwords. Choose a less common one.",
      ],
      ["frankfrank", "The password must not be the same as the username."],
      ["z".repeat(129), "The password must be at most 128 characters long."],
    ] as const;

    for (const [password, message] of cases) {
      const response = await register(running, { username: "frankfrank", password });
      expectError(response, 400, "weak_password");
      expect(response.body).toMatchObject({ message });
    }
    expectError(
      (await login(running.url, "frankfrank", "short")).response,
      401,
      "invalid_credentials",
    );
  });

  it("rejects invalid usernames", async () => {
    for (const username of ["", " ", "ab", "a\u0000b", "x".repeat(257)]) {
      const response = await register(running, { username, password: PASSWORD });
      expectError(response, 400, "validation_failed");
    }
  });

  it("rejects unknown fields", async () => {
    const response = await register(running, {
      username: "grace",
      password: PASSWORD,
      roles: ["admin"],
    });

    expectError(response, 400, "validation_failed");
    expect(response.body).toMatchObject({ message: 'Unknown field "roles" in the request body.' });
  });

  it("records a user.registered event", async () => {
    const response = await register(running, { username: "heidi", password: PASSWORD });

    const events = await running.server.store.listAudit({
      type: "user.registered",
      userId: response.body.user.id as string,
    });
    expect(events).toHaveLength(1);
  });
});
