import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  decodeHeader,
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
const SECOND = 1000;

describe("restart on the same data folder", () => {
  let first: RunningServer;
  let second: RunningServer;
  let kidBefore: string;
  let browser: Awaited<ReturnType<typeof login>>;
  let app: Awaited<ReturnType<typeof loginForTokens>>;
  let loggedOut: Awaited<ReturnType<typeof loginForTokens>>;
  let rotatedAway: string;

  beforeAll(async () => {
    first = await startServer();
    await addUser(first, "alice", PASSWORD, ["editor"]);
    kidBefore = (
      (await request<{ keys: { kid: string }[] }>(`${first.url}/.well-known/jwks.json`)).body
        .keys[0] as { kid: string }
    ).kid;

    browser = await login(first.url, "alice", PASSWORD);
    app = await loginForTokens(first.url, "alice", PASSWORD);
    loggedOut = await loginForTokens(first.url, "alice", PASSWORD);
    await request(`${first.url}/auth/logout`, {
      method: "POST",
      headers: bearer(loggedOut.accessToken),
    });
    const reused = await loginForTokens(first.url, "alice", PASSWORD);
    rotatedAway = reused.refreshToken;
    expect((await refreshWithBody(first.url, rotatedAway)).status).toBe(200);

    await first.stop({ keepData: true });
    first.clock.now += SECOND;
    second = await startServer(first.env, { dataDir: first.dataDir, clock: first.clock });
  });

  afterAll(async () => {
    await second?.stop();
    rmSync(first.dataDir, { recursive: true, force: true });
  });

  it("keeps the signing key", async () => {
    const jwks = await request<{ keys: { kid: string }[] }>(`${second.url}/.well-known/jwks.json`);

    expect(jwks.body.keys.map((key) => key.kid)).toEqual([kidBefore]);
    expect(decodeHeader(app.accessToken).kid).toBe(kidBefore);
  });

  it("old access token still verifies", async () => {
    const me = await getMe(second.url, app.accessToken);

    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ username: "alice", roles: ["editor"] });
  });

  it("old refresh cookie still refreshes", async () => {
    const response = await refreshWithCookie(
      second.url,
      browser.refreshCookie as { name: string; value: string },
    );

    expect(response.status).toBe(200);
    expect((await getMe(second.url, response.body.access_token)).status).toBe(200);
  });

  it("old body refresh token still refreshes", async () => {
    const response = await refreshWithBody(second.url, app.refreshToken);

    expect(response.status).toBe(200);
  });

  it("users survive", async () => {
    expect((await login(second.url, "alice", PASSWORD)).response.status).toBe(200);
  });

  it("logged-out access token stays revoked", async () => {
    expectError(await getMe(second.url, loggedOut.accessToken), 401, "token_revoked");
    expectError(
      await refreshWithBody(second.url, loggedOut.refreshToken),
      401,
      "invalid_refresh_token",
    );
  });

  it("rotation state survives", async () => {
    second.clock.now += 11 * SECOND;

    expectError(await refreshWithBody(second.url, rotatedAway), 401, "refresh_token_reused");
  });

  it("database and key files are private", () => {
    const database = statSync(join(first.dataDir, "sello.db"));
    const keyFile = statSync(join(first.dataDir, "key-encryption.key"));

    expect(database.mode & 0o077).toBe(0);
    expect(keyFile.mode & 0o077).toBe(0);
  });
});
