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

const PASSWORD = "correct horse battery";

describe("POST /auth/logout", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "alice", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  async function logout(headers: Record<string, string>) {
    return request(`${running.url}/auth/logout`, { method: "POST", headers });
  }

  it("cookie logout ends the session", async () => {
    const { accessToken, refreshCookie } = await login(running.url, "alice", PASSWORD);
    const cookie = refreshCookie as { name: string; value: string };

    const response = await logout({
      cookie: `${cookie.name}=${cookie.value}`,
      "x-sello-csrf": "1",
    });

    expect(response.status).toBe(204);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const cleared = response.cookies.find((entry) => entry.name === cookie.name);
    expect(cleared?.value).toBe("");
    expect(cleared?.attributes["max-age"]).toBe("0");
    expect(cleared?.attributes.path).toBe("/auth");
    expect(cleared?.attributes.httponly).toBe(true);
    expectError(await refreshWithCookie(running.url, cookie), 401, "invalid_refresh_token");
    expectError(await getMe(running.url, accessToken), 401, "token_revoked");
  });

  it("bearer logout ends the session", async () => {
    const { accessToken, refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    const response = await logout(bearer(accessToken));

    expect(response.status).toBe(204);
    expectError(await getMe(running.url, accessToken), 401, "token_revoked");
    expectError(await refreshWithBody(running.url, refreshToken), 401, "invalid_refresh_token");
  });

  it("logout leaves other sessions alive", async () => {
    const other = await loginForTokens(running.url, "alice", PASSWORD);
    const { accessToken } = await loginForTokens(running.url, "alice", PASSWORD);

    expect((await logout(bearer(accessToken))).status).toBe(204);

    expect((await getMe(running.url, other.accessToken)).status).toBe(200);
    expect((await refreshWithBody(running.url, other.refreshToken)).status).toBe(200);
  });

  it("logout denies earlier access tokens", async () => {
    const { accessToken, refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);
    const refreshed = await refreshWithBody(running.url, refreshToken);

    expect((await logout(bearer(refreshed.body.access_token))).status).toBe(204);

    expectError(await getMe(running.url, accessToken), 401, "token_revoked");
  });

  it("cookie logout needs CSRF header", async () => {
    const { refreshCookie } = await login(running.url, "alice", PASSWORD);
    const cookie = refreshCookie as { name: string; value: string };

    const response = await logout({ cookie: `${cookie.name}=${cookie.value}` });

    expectError(response, 403, "csrf_failed");
    expect((await refreshWithCookie(running.url, cookie)).status).toBe(200);
  });

  it("cookie logout rejects disallowed origin", async () => {
    const { refreshCookie } = await login(running.url, "alice", PASSWORD);
    const cookie = refreshCookie as { name: string; value: string };

    const response = await logout({
      cookie: `${cookie.name}=${cookie.value}`,
      "x-sello-csrf": "1",
      origin: "https://evil.example.test",
    });

    expectError(response, 403, "csrf_failed");
  });

  it("logout without credentials succeeds", async () => {
    const response = await logout({});

    expect(response.status).toBe(204);
  });

  it("second logout also succeeds", async () => {
    const { accessToken, refreshCookie } = await login(running.url, "alice", PASSWORD);
    const cookie = refreshCookie as { name: string; value: string };
    const headers = { cookie: `${cookie.name}=${cookie.value}`, "x-sello-csrf": "1" };
    expect((await logout(headers)).status).toBe(204);

    expect((await logout(headers)).status).toBe(204);
    expectError(await logout(bearer(accessToken)), 401, "token_revoked");
  });

  it("cookie logout ignores expired bearer", async () => {
    const { accessToken, refreshCookie } = await login(running.url, "alice", PASSWORD);
    const cookie = refreshCookie as { name: string; value: string };
    // 600 s of lifetime and the guard's 5 s of clock tolerance.
    running.clock.now += 606_000;

    const response = await logout({
      ...bearer(accessToken),
      cookie: `${cookie.name}=${cookie.value}`,
      "x-sello-csrf": "1",
    });

    expect(response.status).toBe(204);
    expect(response.cookies[0]?.attributes["max-age"]).toBe("0");
    expectError(await refreshWithCookie(running.url, cookie), 401, "invalid_refresh_token");
  });

  it("cookie logout ignores invalid bearer", async () => {
    const { refreshCookie } = await login(running.url, "alice", PASSWORD);
    const cookie = refreshCookie as { name: string; value: string };

    const response = await logout({
      ...bearer("not.a.token"),
      cookie: `${cookie.name}=${cookie.value}`,
      "x-sello-csrf": "1",
    });

    expect(response.status).toBe(204);
    expectError(await refreshWithCookie(running.url, cookie), 401, "invalid_refresh_token");
  });

  it("expired bearer alone is rejected", async () => {
    const { accessToken, refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);
    running.clock.now += 606_000;

    const response = await logout(bearer(accessToken));

    expectError(response, 401, "token_expired");
    expect((await refreshWithBody(running.url, refreshToken)).status).toBe(200);
  });

  it("rejects invalid bearer token", async () => {
    const response = await logout(bearer("not.a.token"));

    expectError(response, 401, "invalid_token");
    expect(response.headers.get("www-authenticate")).toContain('realm="sello"');
  });

  it("records a logout audit event", async () => {
    const { accessToken } = await loginForTokens(running.url, "alice", PASSWORD);
    const since = running.clock.now;

    await logout(bearer(accessToken));

    const events = await running.server.store.listAudit({ type: "logout", since });
    expect(events.some((event) => event.userId !== null)).toBe(true);
  });
});

describe("POST /auth/logout-all", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "alice", PASSWORD);
    await addUser(running, "bob", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  async function logoutAll(headers: Record<string, string>) {
    return request(`${running.url}/auth/logout-all`, { method: "POST", headers });
  }

  it("revokes every session of the user", async () => {
    const sessions = [
      await loginForTokens(running.url, "alice", PASSWORD),
      await loginForTokens(running.url, "alice", PASSWORD),
      await loginForTokens(running.url, "alice", PASSWORD),
    ];
    const browser = await login(running.url, "alice", PASSWORD);

    const response = await logoutAll(bearer(sessions[0]?.accessToken as string));

    expect(response.status).toBe(204);
    expect(response.cookies[0]?.attributes["max-age"]).toBe("0");
    for (const session of sessions) {
      expectError(await getMe(running.url, session.accessToken), 401, "token_revoked");
      expectError(
        await refreshWithBody(running.url, session.refreshToken),
        401,
        "invalid_refresh_token",
      );
    }
    const cookie = browser.refreshCookie as { name: string; value: string };
    expectError(await refreshWithCookie(running.url, cookie), 401, "invalid_refresh_token");
  });

  it("leaves other users alone", async () => {
    const bob = await loginForTokens(running.url, "bob", PASSWORD);
    const alice = await loginForTokens(running.url, "alice", PASSWORD);

    expect((await logoutAll(bearer(alice.accessToken))).status).toBe(204);

    expect((await getMe(running.url, bob.accessToken)).status).toBe(200);
    expect((await refreshWithBody(running.url, bob.refreshToken)).status).toBe(200);
  });

  it("allows a new login afterwards", async () => {
    const alice = await loginForTokens(running.url, "alice", PASSWORD);
    expect((await logoutAll(bearer(alice.accessToken))).status).toBe(204);

    const again = await loginForTokens(running.url, "alice", PASSWORD);

    expect((await getMe(running.url, again.accessToken)).status).toBe(200);
    expect((await refreshWithBody(running.url, again.refreshToken)).status).toBe(200);
  });

  it("requires a bearer token", async () => {
    const response = await logoutAll({});

    expectError(response, 401, "missing_token");
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="sello"');
  });

  it("does not accept the cookie", async () => {
    const { refreshCookie } = await login(running.url, "alice", PASSWORD);
    const cookie = refreshCookie as { name: string; value: string };

    const response = await logoutAll({
      cookie: `${cookie.name}=${cookie.value}`,
      "x-sello-csrf": "1",
    });

    expectError(response, 401, "missing_token");
    expect((await refreshWithCookie(running.url, cookie)).status).toBe(200);
  });

  it("rejects a revoked bearer token", async () => {
    const { accessToken } = await loginForTokens(running.url, "alice", PASSWORD);
    expect((await logoutAll(bearer(accessToken))).status).toBe(204);

    expectError(await logoutAll(bearer(accessToken)), 401, "token_revoked");
  });
});
