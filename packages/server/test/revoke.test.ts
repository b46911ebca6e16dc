import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  expectError,
  getMe,
  type JsonResponse,
  loginForTokens,
  refreshWithBody,
  request,
} from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

const PASSWORD = "correct horse battery";

describe("POST /auth/revoke", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "alice", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  async function revokeJson(body: unknown) {
    return request(`${running.url}/auth/revoke`, { method: "POST", json: body });
  }

  async function revokeForm(form: string) {
    return request(`${running.url}/auth/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form,
    });
  }

  function expectRevokeOk(response: JsonResponse): void {
    expect(response.status).toBe(200);
    expect(response.body).toEqual({});
    expect(response.headers.get("cache-control")).toBe("no-store");
  }

  it("revokes a refresh token's session", async () => {
    const { accessToken, refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    expectRevokeOk(await revokeJson({ token: refreshToken, token_type_hint: "refresh_token" }));

    expectError(await refreshWithBody(running.url, refreshToken), 401, "invalid_refresh_token");
    expectError(await getMe(running.url, accessToken), 401, "token_revoked");
  });

  it("revokes a refresh token by form", async () => {
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    expectRevokeOk(await revokeForm(`token=${refreshToken}&token_type_hint=refresh_token`));

    expectError(await refreshWithBody(running.url, refreshToken), 401, "invalid_refresh_token");
  });

  it("revokes an access token only", async () => {
    const { accessToken, refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    expectRevokeOk(await revokeForm(`token=${accessToken}&token_type_hint=access_token`));

    expectError(await getMe(running.url, accessToken), 401, "token_revoked");
    const refreshed = await refreshWithBody(running.url, refreshToken);
    expect(refreshed.status).toBe(200);
    expect((await getMe(running.url, refreshed.body.access_token)).status).toBe(200);
  });

  it("ignores a misleading type hint", async () => {
    const { accessToken } = await loginForTokens(running.url, "alice", PASSWORD);

    expectRevokeOk(await revokeJson({ token: accessToken, token_type_hint: "refresh_token" }));

    expectError(await getMe(running.url, accessToken), 401, "token_revoked");
  });

  it("accepts an unknown hint", async () => {
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    expectRevokeOk(await revokeJson({ token: refreshToken, token_type_hint: "id_token" }));

    expectError(await refreshWithBody(running.url, refreshToken), 401, "invalid_refresh_token");
  });

  it("answers 200 for unknown tokens", async () => {
    expectRevokeOk(await revokeJson({ token: randomBytes(32).toString("base64url") }));
    expectRevokeOk(await revokeJson({ token: "garbage" }));
    expectRevokeOk(await revokeJson({ token: "a.b.c" }));
    expectRevokeOk(await revokeForm("token=%E2%9C%93"));
  });

  it("answers 200 when already revoked", async () => {
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);
    expectRevokeOk(await revokeJson({ token: refreshToken }));

    expectRevokeOk(await revokeJson({ token: refreshToken }));
  });

  it("leaves other sessions alive", async () => {
    const other = await loginForTokens(running.url, "alice", PASSWORD);
    const { refreshToken } = await loginForTokens(running.url, "alice", PASSWORD);

    expectRevokeOk(await revokeJson({ token: refreshToken }));

    expect((await getMe(running.url, other.accessToken)).status).toBe(200);
    expect((await refreshWithBody(running.url, other.refreshToken)).status).toBe(200);
  });

  it("records a token.revoked audit event", async () => {
    const { refreshToken, response } = await loginForTokens(running.url, "alice", PASSWORD);
    const since = running.clock.now;

    await revokeJson({ token: refreshToken });

    const events = await running.server.store.listAudit({ type: "token.revoked", since });
    expect(events.some((event) => event.userId === response.body.user.id)).toBe(true);
  });

  it("rejects a missing token", async () => {
    const json = await revokeJson({ token_type_hint: "access_token" });
    const form = await revokeForm("token_type_hint=access_token");

    expectError(json, 400, "validation_failed");
    expect(json.body.message).toBe('The request body lacks the required field "token".');
    expectError(form, 400, "validation_failed");
  });

  it("rejects an empty token", async () => {
    expectError(await revokeForm("token="), 400, "validation_failed");
  });

  it("rejects a repeated form parameter", async () => {
    const response = await revokeForm("token=a&token=b");

    expectError(response, 400, "invalid_request");
    expect(response.body.message).toBe('The parameter "token" is repeated.');
  });

  it("rejects an unknown parameter", async () => {
    const response = await revokeForm("token=a&client_secret=b");

    expectError(response, 400, "validation_failed");
    expect(response.body.message).toBe('Unknown field "client_secret" in the request body.');
  });

  it("rejects a text body", async () => {
    const response = await request(`${running.url}/auth/revoke`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "token=a",
    });

    expectError(response, 415, "unsupported_media_type");
  });

  it("rejects a form over the body limit", async () => {
    // SELLO_BODY_LIMIT defaults to 16,384 bytes and applies to forms as well as JSON.
    const response = await revokeForm(`token=${"a".repeat(16_384)}`);

    expectError(response, 413, "payload_too_large");
  });
});
