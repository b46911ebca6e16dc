import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, refreshWithCookie, request } from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

describe("auth server flow", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "alice", "correct horse battery", ["editor"]);
  });

  afterAll(async () => {
    await running.stop();
  });

  it("logs in, reads /auth/me, refreshes and logs out", async () => {
    const { response, accessToken, refreshCookie } = await login(
      running.url,
      "alice",
      "correct horse battery",
    );
    expect(response.status).toBe(200);
    expect(response.body.token_type).toBe("Bearer");
    expect(response.body.expires_in).toBe(600);
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(refreshCookie?.name).toBe("sello_refresh");
    expect(refreshCookie?.attributes.httponly).toBe(true);
    expect(refreshCookie?.attributes.samesite).toBe("Strict");
    expect(refreshCookie?.attributes.path).toBe("/auth");

    const me = await request(`${running.url}/auth/me`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      username: "alice",
      roles: ["editor"],
      permissions: ["notes:read", "notes:write"],
    });

    const refreshed = await refreshWithCookie(
      running.url,
      refreshCookie as { name: string; value: string },
    );
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).not.toBe(accessToken);

    const logout = await request(`${running.url}/auth/logout`, {
      method: "POST",
      headers: { authorization: `Bearer ${refreshed.body.access_token}` },
    });
    expect(logout.status).toBe(204);
    const after = await request(`${running.url}/auth/me`, {
      headers: { authorization: `Bearer ${refreshed.body.access_token}` },
    });
    expect(after.status).toBe(401);
    expect(after.body.error).toBe("token_revoked");
  });
});
