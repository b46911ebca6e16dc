import { randomBytes } from "node:crypto";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  login,
  loginForTokens,
  refreshWithBody,
  refreshWithCookie,
  request,
} from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

const PASSWORD = "correct horse battery";
const NEW_PASSWORD = "purple monkey dishwasher";
const WRONG_PASSWORD = "wrong horse battery staple";
const REGISTERED_PASSWORD = "xyzzy plover twisty";

/** Collects everything written to a stream as text. */
function captureLog(): { stream: PassThrough; text(): string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (chunk: Buffer) => {
    text += chunk.toString("utf8");
  });
  return { stream, text: () => text };
}

describe("security: logs never contain secrets", () => {
  const log = captureLog();
  const secrets = new Map<string, string>();
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer(
      { SELLO_LOG_LEVEL: "debug", SELLO_REGISTRATION: "open" },
      { logStream: log.stream },
    );
    await addUser(running, "alice", PASSWORD);
    const url = running.url;
    secrets.set("password", PASSWORD);
    secrets.set("new password", NEW_PASSWORD);
    secrets.set("wrong password", WRONG_PASSWORD);
    secrets.set("registered password", REGISTERED_PASSWORD);

    const browser = await login(url, "alice", PASSWORD);
    const cookie = browser.refreshCookie as { name: string; value: string };
    secrets.set("login access token", browser.accessToken);
    secrets.set("login refresh cookie", cookie.value);

    const app = await loginForTokens(url, "alice", PASSWORD);
    secrets.set("body access token", app.accessToken);
    secrets.set("body refresh token", app.refreshToken);

    const cookieRefresh = await refreshWithCookie(url, cookie);
    const rotatedCookie = cookieRefresh.cookies[0] as { name: string; value: string };
    secrets.set("rotated cookie", rotatedCookie.value);
    secrets.set("cookie refresh access token", cookieRefresh.body.access_token);

    const bodyRefresh = await refreshWithBody(url, app.refreshToken);
    secrets.set("rotated refresh token", bodyRefresh.body.refresh_token as string);
    secrets.set("body refresh access token", bodyRefresh.body.access_token);

    await request(`${url}/auth/password`, {
      method: "POST",
      headers: bearer(bodyRefresh.body.access_token),
      json: { current_password: PASSWORD, new_password: NEW_PASSWORD },
    });
    await request(`${url}/auth/password`, {
      method: "POST",
      headers: bearer(bodyRefresh.body.access_token),
      json: { current_password: WRONG_PASSWORD, new_password: NEW_PASSWORD },
    });
    await login(url, "alice", WRONG_PASSWORD);
    await request(`${url}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"username":"alice","password":"${WRONG_PASSWORD}"`,
    });
    await request(`${url}/auth/register`, {
      method: "POST",
      json: { username: "bob", password: REGISTERED_PASSWORD },
    });

    const other = await loginForTokens(url, "alice", NEW_PASSWORD);
    secrets.set("other access token", other.accessToken);
    secrets.set("other refresh token", other.refreshToken);
    await request(`${url}/auth/revoke`, { method: "POST", json: { token: other.refreshToken } });
    await request(`${url}/auth/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `token=${other.accessToken}`,
    });

    await request(`${url}/auth/logout`, {
      method: "POST",
      headers: { cookie: `${rotatedCookie.name}=${rotatedCookie.value}`, "x-sello-csrf": "1" },
    });
    await request(`${url}/auth/logout-all`, {
      method: "POST",
      headers: bearer(bodyRefresh.body.access_token),
    });
    // A header overflow makes Node's parser keep the raw request, cookie included.
    await request(`${url}/healthz`, {
      headers: { cookie: `${cookie.name}=${cookie.value}`, "x-filler": "a".repeat(20_000) },
    });
  });

  afterAll(async () => {
    await running.stop();
  });

  it("captured the request log", () => {
    expect(log.text()).toContain('"msg":"incoming request"');
    expect(log.text()).toContain('"url":"/auth/password"');
    expect(log.text()).toContain('"code":"invalid_credentials"');
    expect(log.text()).toContain('"msg":"client error"');
  });

  it("contains no secret value", () => {
    const found = [...secrets].filter(([, value]) => log.text().includes(value));

    expect(found.map(([name]) => name)).toEqual([]);
  });

  it("contains no token-shaped strings", () => {
    // A JWT starts with the base64url of '{"'; a refresh token is 43 base64url characters.
    expect(log.text()).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/);
    expect(log.text()).not.toMatch(/sello_refresh=/);
  });
});

describe("security: HS256 secret never logged", () => {
  it("debug start and login omit it", async () => {
    const log = captureLog();
    const secret = randomBytes(48).toString("base64url");
    const running = await startServer(
      { SELLO_LOG_LEVEL: "debug", SELLO_ALGORITHM: "HS256", SELLO_HS256_SECRET: secret },
      { logStream: log.stream },
    );
    await addUser(running, "alice", PASSWORD);
    await login(running.url, "alice", PASSWORD);
    await running.stop();

    expect(log.text()).toContain('"msg":"incoming request"');
    expect(log.text()).not.toContain(secret);
  });
});
