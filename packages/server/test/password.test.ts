import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  expectError,
  getMe,
  login,
  loginForTokens,
  refreshWithBody,
  refreshWithCookie,
  request,
} from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

const OLD_PASSWORD = "correct horse battery";
const NEW_PASSWORD = "purple monkey dishwasher";

describe("POST /auth/password", () => {
  let running: RunningServer;
  let userNumber = 0;

  beforeAll(async () => {
    running = await startServer();
  });

  afterAll(async () => {
    await running.stop();
  });

  /** Creates a user of its own for each test, so password changes do not leak between tests. */
  async function newUser(): Promise<string> {
    userNumber += 1;
    const username = `user${userNumber}`;
    await addUser(running, username, OLD_PASSWORD);
    return username;
  }

  async function changePassword(accessToken: string, body: unknown) {
    return request(`${running.url}/auth/password`, {
      method: "POST",
      headers: bearer(accessToken),
      json: body,
    });
  }

  it("changes the password", async () => {
    const username = await newUser();
    const { accessToken } = await loginForTokens(running.url, username, OLD_PASSWORD);

    const response = await changePassword(accessToken, {
      current_password: OLD_PASSWORD,
      new_password: NEW_PASSWORD,
    });

    expect(response.status).toBe(204);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expectError(
      (await login(running.url, username, OLD_PASSWORD)).response,
      401,
      "invalid_credentials",
    );
    expect((await login(running.url, username, NEW_PASSWORD)).response.status).toBe(200);
  });

  it("keeps the current session", async () => {
    const username = await newUser();
    const { accessToken, refreshCookie } = await login(running.url, username, OLD_PASSWORD);

    await changePassword(accessToken, {
      current_password: OLD_PASSWORD,
      new_password: NEW_PASSWORD,
    });

    expect((await getMe(running.url, accessToken)).status).toBe(200);
    const cookie = refreshCookie as { name: string; value: string };
    expect((await refreshWithCookie(running.url, cookie)).status).toBe(200);
  });

  it("revokes the other sessions", async () => {
    const username = await newUser();
    const current = await loginForTokens(running.url, username, OLD_PASSWORD);
    const others = [
      await loginForTokens(running.url, username, OLD_PASSWORD),
      await loginForTokens(running.url, username, OLD_PASSWORD),
    ];

    await changePassword(current.accessToken, {
      current_password: OLD_PASSWORD,
      new_password: NEW_PASSWORD,
    });

    for (const other of others) {
      expectError(await getMe(running.url, other.accessToken), 401, "token_revoked");
      expectError(
        await refreshWithBody(running.url, other.refreshToken),
        401,
        "invalid_refresh_token",
      );
    }
    expect((await refreshWithBody(running.url, current.refreshToken)).status).toBe(200);
  });

  it("leaves other users alone", async () => {
    const username = await newUser();
    const bystander = await newUser();
    const other = await loginForTokens(running.url, bystander, OLD_PASSWORD);
    const { accessToken } = await loginForTokens(running.url, username, OLD_PASSWORD);

    await changePassword(accessToken, {
      current_password: OLD_PASSWORD,
      new_password: NEW_PASSWORD,
    });

    expect((await getMe(running.url, other.accessToken)).status).toBe(200);
    expect((await refreshWithBody(running.url, other.refreshToken)).status).toBe(200);
  });

  it("rejects wrong current password", async () => {
    const username = await newUser();
    const other = await loginForTokens(running.url, username, OLD_PASSWORD);
    const { accessToken } = await loginForTokens(running.url, username, OLD_PASSWORD);

    const response = await changePassword(accessToken, {
      current_password: "wrong horse battery",
      new_password: NEW_PASSWORD,
    });

    expectError(response, 401, "invalid_credentials");
    expect(response.body.message).toBe("The current password is incorrect.");
    expect((await login(running.url, username, OLD_PASSWORD)).response.status).toBe(200);
    expect((await getMe(running.url, other.accessToken)).status).toBe(200);
  });

  it("rejects over-long current password", async () => {
    const username = await newUser();
    const { accessToken } = await loginForTokens(running.url, username, OLD_PASSWORD);

    const response = await changePassword(accessToken, {
      current_password: "x".repeat(4000),
      new_password: NEW_PASSWORD,
    });

    expectError(response, 401, "invalid_credentials");
  });

  it("rejects weak new passwords", async () => {
    const username = await newUser();
    const { accessToken } = await loginForTokens(running.url, username, OLD_PASSWORD);
    const cases = [
      ["short", "The password must be at least 8 characters long."],
      [
        "password123",
        "The password is on a list of commonly used passwords. Choose a less common one.",
      ],
      ["y".repeat(129), "The password must be at most 128 characters long."],
    ] as const;

    for (const [newPassword, message] of cases) {
      const response = await changePassword(accessToken, {
        current_password: OLD_PASSWORD,
        new_password: newPassword,
      });
      expectError(response, 400, "weak_password");
      expect(response.body.message).toBe(message);
    }
    expect((await login(running.url, username, OLD_PASSWORD)).response.status).toBe(200);
  });

  it("rejects new password equal to username", async () => {
    await addUser(running, "longusername", OLD_PASSWORD);
    const { accessToken } = await loginForTokens(running.url, "longusername", OLD_PASSWORD);

    const response = await changePassword(accessToken, {
      current_password: OLD_PASSWORD,
      new_password: "LongUsername",
    });

    expectError(response, 400, "weak_password");
    expect(response.body.message).toBe("The password must not be the same as the username.");
  });

  it("requires a bearer token", async () => {
    const response = await request(`${running.url}/auth/password`, {
      method: "POST",
      json: { current_password: OLD_PASSWORD, new_password: NEW_PASSWORD },
    });

    expectError(response, 401, "missing_token");
  });

  it("rejects a revoked bearer token", async () => {
    const username = await newUser();
    const { accessToken } = await loginForTokens(running.url, username, OLD_PASSWORD);
    await request(`${running.url}/auth/logout`, { method: "POST", headers: bearer(accessToken) });

    const response = await changePassword(accessToken, {
      current_password: OLD_PASSWORD,
      new_password: NEW_PASSWORD,
    });

    expectError(response, 401, "token_revoked");
    expect((await login(running.url, username, OLD_PASSWORD)).response.status).toBe(200);
  });

  it("rejects missing new password", async () => {
    const username = await newUser();
    const { accessToken } = await loginForTokens(running.url, username, OLD_PASSWORD);

    const response = await changePassword(accessToken, { current_password: OLD_PASSWORD });

    expectError(response, 400, "validation_failed");
    expect(response.body.message).toBe('The request body lacks the required field "new_password".');
  });

  it("records a password.changed audit event", async () => {
    const username = await newUser();
    const { accessToken, response } = await loginForTokens(running.url, username, OLD_PASSWORD);
    await loginForTokens(running.url, username, OLD_PASSWORD);

    await changePassword(accessToken, {
      current_password: OLD_PASSWORD,
      new_password: NEW_PASSWORD,
    });

    const events = await running.server.store.listAudit({
      type: "password.changed",
      userId: response.body.user.id,
    });
    expect(events).toHaveLength(1);
    expect(events[0]?.detail).toEqual({ revokedSessions: 1 });
  });

  describe("guessing the current password", () => {
    it("is rate limited with Retry-After", async () => {
      const limited = await startServer({ SELLO_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: "2" });
      try {
        await addUser(limited, "guessed", OLD_PASSWORD);
        const { accessToken } = await loginForTokens(limited.url, "guessed", OLD_PASSWORD);
        const wrong = { current_password: "not the password", new_password: NEW_PASSWORD };
        const send = () =>
          request(`${limited.url}/auth/password`, {
            method: "POST",
            headers: bearer(accessToken),
            json: wrong,
          });

        expectError(await send(), 401, "invalid_credentials");
        expectError(await send(), 401, "invalid_credentials");
        const blocked = await send();
        expectError(blocked, 429, "rate_limited");
        expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
        const events = await limited.server.store.listAudit({ type: "password.rate_limited" });
        expect(events).toHaveLength(1);
      } finally {
        await limited.stop();
      }
    });
  });
});
