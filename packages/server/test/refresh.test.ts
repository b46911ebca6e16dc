import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KyselyStore } from "../src/store/index.js";
import {
  decodeClaims,
  expectError,
  getMe,
  login,
  loginForTokens,
  refreshWithBody,
  refreshWithCookie,
  request,
  type TokenBody,
} from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

const PASSWORD = "correct horse battery";
const SECOND = 1000;
const DAY = 86_400 * SECOND;
/** SELLO_REFRESH_GRACE's default, in milliseconds. */
const GRACE_MS = 10 * SECOND;

/** Reads the refresh-token rows of one session, oldest first. */
async function refreshTokenRows(running: RunningServer, sessionId: string) {
  const store = running.server.store as KyselyStore;
  return store.db
    .selectFrom("refresh_tokens")
    .selectAll()
    .where("session_id", "=", sessionId)
    .orderBy("created_at")
    .execute();
}

/** Sends a cookie refresh with extra headers, such as a CSRF header or an Origin. */
async function refreshCookieWith(
  running: RunningServer,
  cookie: { name: string; value: string },
  headers: Record<string, string>,
) {
  return request<TokenBody>(`${running.url}/auth/refresh`, {
    method: "POST",
    headers: { cookie: `${cookie.name}=${cookie.value}`, ...headers },
  });
}

describe("POST /auth/refresh", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "alice", PASSWORD, ["editor"]);
  });

  afterAll(async () => {
    await running.stop();
  });

  it("cookie refresh rotates the cookie", async () => {
    const { accessToken, refreshCookie } = await login(running.url, "alice", PASSWORD);
    const cookie = refreshCookie as { name: string; value: string };

    const refreshed = await refreshWithCookie(running.url, cookie);

    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get("cache-control")).toBe("no-store");
    expect(refreshed.body).toMatchObject({ token_type: "Bearer", expires_in: 600 });
    expect(refreshed.body).not.toHaveProperty("refresh_token");
    expect(refreshed.body.access_token).not.toBe(accessToken);
    const next = refreshed.cookies.find((entry) => entry.name === "sello_refresh");
    expect(next?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(next?.value).not.toBe(cookie.value);
  });

  it("body refresh rotates the token", async () => {
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    const refreshed = await refreshWithBody(running.url, refreshToken);

    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(refreshed.body.refresh_token).not.toBe(refreshToken);
    expect(refreshed.body.user.username).toBe("alice");
    expect(refreshed.cookies).toEqual([]);
  });

  it("keeps the session id", async () => {
    const { accessToken, refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    const refreshed = await refreshWithBody(running.url, refreshToken);

    expect(decodeClaims(refreshed.body.access_token).sid).toBe(decodeClaims(accessToken).sid);
  });

  it("rejects request without token", async () => {
    const response = await request(`${running.url}/auth/refresh`, { method: "POST" });

    expectError(response, 401, "invalid_refresh_token");
    expect(response.body).toMatchObject({ message: "The request carries no refresh token." });
  });

  it("rejects malformed refresh token", async () => {
    const response = await refreshWithBody(running.url, "not-a-refresh-token");

    expectError(response, 401, "invalid_refresh_token");
  });

  it("rejects unknown refresh token", async () => {
    const response = await refreshWithBody(running.url, randomBytes(32).toString("base64url"));

    expectError(response, 401, "invalid_refresh_token");
  });

  it("failed cookie refresh clears cookie", async () => {
    const response = await refreshWithCookie(running.url, {
      name: "sello_refresh",
      value: randomBytes(32).toString("base64url"),
    });

    expectError(response, 401, "invalid_refresh_token");
    const cleared = response.cookies.find((entry) => entry.name === "sello_refresh");
    expect(cleared?.value).toBe("");
    expect(cleared?.attributes["max-age"]).toBe("0");
    expect(cleared?.attributes.path).toBe("/auth");
  });

  it("rejects non-string refresh token", async () => {
    const response = await request(`${running.url}/auth/refresh`, {
      method: "POST",
      json: { refresh_token: 42 },
    });

    expectError(response, 400, "validation_failed");
    expect(response.body).toMatchObject({ message: 'The field "refresh_token" must be a string.' });
  });

  it("disabled user cannot refresh", async () => {
    const user = await addUser(running, "dora", PASSWORD);
    const { accessToken, refreshToken } = await loginForTokens(running.url, "dora", PASSWORD);
    await running.server.store.setDisabled(user.id, true, running.clock.now);

    const response = await refreshWithBody(running.url, refreshToken);

    expectError(response, 401, "invalid_refresh_token");
    expectError(await getMe(running.url, accessToken), 401, "token_revoked");
  });
});

describe("concurrent refresh of one token", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "alice", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  it("ten body refreshes share successor", async () => {
    const { accessToken, refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);
    const sessionId = decodeClaims(accessToken).sid;

    const responses = await Promise.all(
      Array.from({ length: 10 }, () => refreshWithBody(running.url, refreshToken)),
    );

    expect(responses.map((response) => response.status)).toEqual(Array(10).fill(200));
    const successors = new Set(responses.map((response) => response.body.refresh_token));
    expect(successors.size).toBe(1);

    const rows = await refreshTokenRows(running, sessionId);
    expect(rows).toHaveLength(2);
    expect(rows.filter((row) => row.rotated_at !== null)).toHaveLength(1);

    for (const response of responses) {
      expect((await getMe(running.url, response.body.access_token)).status).toBe(200);
    }
    const next = await refreshWithBody(running.url, [...successors][0] as string);
    expect(next.status).toBe(200);
  });

  it("ten cookie refreshes share successor", async () => {
    const { refreshCookie } = await login(running.url, "alice", PASSWORD);
    const cookie = refreshCookie as { name: string; value: string };

    const responses = await Promise.all(
      Array.from({ length: 10 }, () => refreshWithCookie(running.url, cookie)),
    );

    expect(responses.map((response) => response.status)).toEqual(Array(10).fill(200));
    const successors = new Set(
      responses.map(
        (response) => response.cookies.find((entry) => entry.name === cookie.name)?.value,
      ),
    );
    expect(successors.size).toBe(1);
    const successor = [...successors][0] as string;
    expect(successor).not.toBe(cookie.value);

    const next = await refreshWithCookie(running.url, { name: cookie.name, value: successor });
    expect(next.status).toBe(200);
  });
});

describe("security: refresh token reuse", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "alice", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  it("retry within grace returns successor", async () => {
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);
    const first = await refreshWithBody(running.url, refreshToken);
    expect(first.status).toBe(200);

    running.clock.now += GRACE_MS / 2;
    const retry = await refreshWithBody(running.url, refreshToken);

    expect(retry.status).toBe(200);
    expect(retry.body.refresh_token).toBe(first.body.refresh_token);
    expect(retry.body.access_token).not.toBe(first.body.access_token);
    const next = await refreshWithBody(running.url, first.body.refresh_token as string);
    expect(next.status).toBe(200);
  });

  it("retry after two rotations returns current", async () => {
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);
    const first = await refreshWithBody(running.url, refreshToken);
    const second = await refreshWithBody(running.url, first.body.refresh_token as string);

    running.clock.now += SECOND;
    const retry = await refreshWithBody(running.url, refreshToken);

    expect(retry.status).toBe(200);
    expect(retry.body.refresh_token).toBe(second.body.refresh_token);
  });

  it("reuse after grace revokes family", async () => {
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);
    const rotated = await refreshWithBody(running.url, refreshToken);
    expect(rotated.status).toBe(200);
    const successor = rotated.body.refresh_token as string;
    const familyAccessToken = rotated.body.access_token;
    const claims = decodeClaims(familyAccessToken);

    running.clock.now += GRACE_MS + SECOND;
    const reuse = await refreshWithBody(running.url, refreshToken);

    expectError(reuse, 401, "refresh_token_reused");
    expect(reuse.body).toMatchObject({
      message: "The refresh token was already used, so the session has been revoked.",
    });
    expectError(await refreshWithBody(running.url, successor), 401, "invalid_refresh_token");
    expectError(await getMe(running.url, familyAccessToken), 401, "token_revoked");

    const events = await running.server.store.listAudit({ type: "refresh.reused" });
    expect(events).toHaveLength(1);
    expect(events[0]?.sessionId).toBe(claims.sid);
    expect(events[0]?.userId).toBe(claims.sub);
    expect(events[0]?.ip).toBe("127.0.0.1");
  });

  it("reuse leaves other sessions alive", async () => {
    const other = await loginForTokens(running.url, "alice", PASSWORD);
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);
    await refreshWithBody(running.url, refreshToken);

    running.clock.now += GRACE_MS + SECOND;
    expectError(await refreshWithBody(running.url, refreshToken), 401, "refresh_token_reused");

    expect((await getMe(running.url, other.accessToken)).status).toBe(200);
    expect((await refreshWithBody(running.url, other.refreshToken)).status).toBe(200);
  });

  it("cookie reuse clears the cookie", async () => {
    const { refreshCookie } = await login(running.url, "alice", PASSWORD);
    const cookie = refreshCookie as { name: string; value: string };
    expect((await refreshWithCookie(running.url, cookie)).status).toBe(200);

    running.clock.now += GRACE_MS + SECOND;
    const reuse = await refreshWithCookie(running.url, cookie);

    expectError(reuse, 401, "refresh_token_reused");
    const cleared = reuse.cookies.find((entry) => entry.name === cookie.name);
    expect(cleared?.attributes["max-age"]).toBe("0");
  });
});

describe("session expiry", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer({
      SELLO_REFRESH_IDLE_TTL: "7d",
      SELLO_REFRESH_ABSOLUTE_TTL: "30d",
    });
    await addUser(running, "alice", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  it("refresh just before idle expiry works", async () => {
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    running.clock.now += 7 * DAY - SECOND;
    const response = await refreshWithBody(running.url, refreshToken);

    expect(response.status).toBe(200);
    expect(response.body.refresh_token_expires_in).toBe(7 * 86_400);
  });

  it("idle session expires", async () => {
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    running.clock.now += 7 * DAY;
    const response = await refreshWithBody(running.url, refreshToken);

    expectError(response, 401, "session_expired");
    expect(response.body).toMatchObject({ message: "The session has expired. Log in again." });
  });

  it("absolute lifetime ends active session", async () => {
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);
    let token = refreshToken;
    const remaining: number[] = [];

    for (let step = 0; step < 4; step++) {
      running.clock.now += 6 * DAY;
      const response = await refreshWithBody(running.url, token);
      expect(response.status).toBe(200);
      remaining.push(response.body.refresh_token_expires_in as number);
      token = response.body.refresh_token as string;
    }
    // After 24 days only 6 of the 30 remain, less than the 7-day idle lifetime.
    expect(remaining).toEqual([7 * 86_400, 7 * 86_400, 7 * 86_400, 6 * 86_400]);

    running.clock.now += 6 * DAY;
    expectError(await refreshWithBody(running.url, token), 401, "session_expired");
  });

  it("expired cookie session clears cookie", async () => {
    const { refreshCookie } = await login(running.url, "alice", PASSWORD);

    running.clock.now += 8 * DAY;
    const response = await refreshWithCookie(
      running.url,
      refreshCookie as { name: string; value: string },
    );

    expectError(response, 401, "session_expired");
    expect(response.cookies[0]?.attributes["max-age"]).toBe("0");
  });

  it("expired access token is token_expired", async () => {
    const { accessToken } = await loginForTokens(running.url, "alice", PASSWORD);

    // 600 s of lifetime and the guard's 5 s of clock tolerance.
    running.clock.now += 606 * SECOND;
    const response = await getMe(running.url, accessToken);

    expectError(response, 401, "token_expired");
    expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
  });
});

describe("security: CSRF on cookie refresh", () => {
  let running: RunningServer;
  let cookie: { name: string; value: string };

  beforeAll(async () => {
    running = await startServer({ SELLO_CORS_ORIGINS: "https://app.example.test" });
    await addUser(running, "alice", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  async function freshCookie() {
    const { refreshCookie } = await login(running.url, "alice", PASSWORD);
    cookie = refreshCookie as { name: string; value: string };
    return cookie;
  }

  it("rejects missing CSRF header", async () => {
    const response = await refreshCookieWith(running, await freshCookie(), {});

    expectError(response, 403, "csrf_failed");
    expect(response.body).toMatchObject({
      message: "Cookie-authenticated requests must send the header X-Sello-Csrf: 1.",
    });
  });

  it("rejects wrong CSRF header value", async () => {
    for (const value of ["0", "true", "11", " "]) {
      const response = await refreshCookieWith(running, await freshCookie(), {
        "x-sello-csrf": value,
      });
      expectError(response, 403, "csrf_failed");
    }
  });

  it("rejects disallowed origin", async () => {
    const response = await refreshCookieWith(running, await freshCookie(), {
      "x-sello-csrf": "1",
      origin: "https://evil.example.test",
    });

    expectError(response, 403, "csrf_failed");
    expect(response.body).toMatchObject({
      message: "The request's Origin is not an allowed origin.",
    });
  });

  it("rejects null origin", async () => {
    const response = await refreshCookieWith(running, await freshCookie(), {
      "x-sello-csrf": "1",
      origin: "null",
    });

    expectError(response, 403, "csrf_failed");
  });

  it("accepts public URL origin", async () => {
    const response = await refreshCookieWith(running, await freshCookie(), {
      "x-sello-csrf": "1",
      origin: running.server.config.publicUrl,
    });

    expect(response.status).toBe(200);
  });

  it("accepts configured CORS origin", async () => {
    const response = await refreshCookieWith(running, await freshCookie(), {
      "x-sello-csrf": "1",
      origin: "https://app.example.test",
    });

    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example.test");
    expect(response.headers.get("access-control-allow-credentials")).toBe("true");
  });

  it("failed check keeps the token", async () => {
    const token = await freshCookie();
    expectError(await refreshCookieWith(running, token, {}), 403, "csrf_failed");

    const response = await refreshWithCookie(running.url, token);

    expect(response.status).toBe(200);
  });

  it("failed check keeps the cookie", async () => {
    const response = await refreshCookieWith(running, await freshCookie(), {});

    expect(response.cookies).toEqual([]);
  });
});

describe("security: swapped token types", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "alice", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  it("access token in body is rejected", async () => {
    const { accessToken } = await loginForTokens(running.url, "alice", PASSWORD);

    const response = await refreshWithBody(running.url, accessToken);

    expectError(response, 401, "invalid_refresh_token");
  });

  it("access token as cookie is rejected", async () => {
    const { accessToken } = await loginForTokens(running.url, "alice", PASSWORD);

    const response = await refreshWithCookie(running.url, {
      name: "sello_refresh",
      value: accessToken,
    });

    expectError(response, 401, "invalid_refresh_token");
  });

  it("refresh token as bearer is rejected", async () => {
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    const response = await getMe(running.url, refreshToken);

    expectError(response, 401, "invalid_token");
    expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
  });

  it("refresh token cannot log out everywhere", async () => {
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    const response = await request(`${running.url}/auth/logout-all`, {
      method: "POST",
      headers: { authorization: `Bearer ${refreshToken}` },
    });

    expectError(response, 401, "invalid_token");
    expect((await refreshWithBody(running.url, refreshToken)).status).toBe(200);
  });

  it("rejected swap keeps the session", async () => {
    const { accessToken, refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);
    await refreshWithBody(running.url, accessToken);
    await getMe(running.url, refreshToken);

    expect((await getMe(running.url, accessToken)).status).toBe(200);
    expect((await refreshWithBody(running.url, refreshToken)).status).toBe(200);
  });
});
