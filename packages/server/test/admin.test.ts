import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, request } from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

describe("admin API", () => {
  let running: RunningServer;
  let adminToken: string;
  let adminId: string;
  let viewerToken: string;

  function asAdmin(init: RequestInit & { json?: unknown } = {}) {
    return {
      ...init,
      headers: { ...(init.headers as object), authorization: `Bearer ${adminToken}` },
    };
  }

  async function auditTypes(): Promise<string[]> {
    return (await running.server.store.listAudit({ limit: 500 })).map((event) => event.type);
  }

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "root-admin", "admin password 1", ["admin"]);
    await addUser(running, "plain-viewer", "viewer password 1", ["viewer"]);
    const admin = await login(running.url, "root-admin", "admin password 1");
    adminToken = admin.accessToken;
    adminId = admin.response.body.user.id;
    viewerToken = (await login(running.url, "plain-viewer", "viewer password 1")).accessToken;
  });

  afterAll(async () => {
    await running.stop();
  });

  describe("authorization", () => {
    it("rejects a request without a token", async () => {
      const response = await request(`${running.url}/admin/users`);
      expect(response.status).toBe(401);
      expect(response.body.error).toBe("missing_token");
    });

    it("rejects a user without the admin role", async () => {
      const response = await request(`${running.url}/admin/users`, {
        headers: { authorization: `Bearer ${viewerToken}` },
      });
      expect(response.status).toBe(403);
      expect(response.body.error).toBe("insufficient_permissions");
      expect(response.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
    });
  });

  describe("users", () => {
    it("creates a user and audits it", async () => {
      const response = await request<{ user: { id: string; username: string; roles: string[] } }>(
        `${running.url}/admin/users`,
        asAdmin({
          method: "POST",
          json: { username: "New-Editor", password: "editor password 1", roles: ["editor"] },
        }),
      );
      expect(response.status).toBe(201);
      expect(response.body.user.username).toBe("new-editor");
      expect(response.body.user.roles).toEqual(["editor"]);
      expect(await auditTypes()).toContain("admin.user_created");

      const again = await request(
        `${running.url}/admin/users`,
        asAdmin({
          method: "POST",
          json: { username: "new-editor", password: "editor password 2" },
        }),
      );
      expect(again.status).toBe(409);
      expect(again.body.error).toBe("username_taken");
    });

    it("rejects an unknown role", async () => {
      const response = await request(
        `${running.url}/admin/users`,
        asAdmin({
          method: "POST",
          json: { username: "someone", password: "some password 1", roles: ["root"] },
        }),
      );
      expect(response.status).toBe(400);
      expect(response.body.error).toBe("validation_failed");
      expect(response.body.message).toContain("root");
    });

    it("lists users with search and a cursor", async () => {
      for (const name of ["list-a", "list-b", "list-c"]) {
        await addUser(running, name, "list password 1");
      }
      const first = await request<{ users: { username: string }[]; nextCursor: string | null }>(
        `${running.url}/admin/users?search=list-&limit=2`,
        asAdmin(),
      );
      expect(first.status).toBe(200);
      expect(first.body.users.map((user) => user.username)).toEqual(["list-a", "list-b"]);
      expect(first.body.nextCursor).toBe("list-b");
      const second = await request<{ users: { username: string }[]; nextCursor: string | null }>(
        `${running.url}/admin/users?search=list-&limit=2&after=list-b`,
        asAdmin(),
      );
      expect(second.body.users.map((user) => user.username)).toEqual(["list-c"]);
      expect(second.body.nextCursor).toBeNull();
    });

    it("changes roles and audits the change", async () => {
      const user = await addUser(running, "role-change", "role password 1", ["viewer"]);
      const response = await request<{ user: { roles: string[] } }>(
        `${running.url}/admin/users/${user.id}/roles`,
        asAdmin({ method: "PUT", json: { roles: ["editor", "viewer"] } }),
      );
      expect(response.status).toBe(200);
      expect(response.body.user.roles).toEqual(["editor", "viewer"]);
      const events = await running.server.store.listAudit({
        userId: user.id,
        type: "admin.roles_changed",
      });
      expect(events).toHaveLength(1);
      expect(events[0]?.detail).toMatchObject({
        from: ["viewer"],
        to: ["editor", "viewer"],
        actor: adminId,
      });
    });

    it("disables a user, ending their sessions, then enables them", async () => {
      const user = await addUser(running, "to-disable", "disable password 1");
      const session = await login(running.url, "to-disable", "disable password 1");

      const disabled = await request<{ user: { disabled: boolean } }>(
        `${running.url}/admin/users/${user.id}/disable`,
        asAdmin({ method: "POST" }),
      );
      expect(disabled.body.user.disabled).toBe(true);
      const me = await request(`${running.url}/auth/me`, {
        headers: { authorization: `Bearer ${session.accessToken}` },
      });
      expect(me.status).toBe(401);
      expect(me.body.error).toBe("token_revoked");
      const relogin = await login(running.url, "to-disable", "disable password 1");
      expect(relogin.response.status).toBe(401);
      expect((relogin.response.body as unknown as { error: string }).error).toBe(
        "invalid_credentials",
      );

      const enabled = await request<{ user: { disabled: boolean } }>(
        `${running.url}/admin/users/${user.id}/enable`,
        asAdmin({ method: "POST" }),
      );
      expect(enabled.body.user.disabled).toBe(false);
      expect((await login(running.url, "to-disable", "disable password 1")).response.status).toBe(
        200,
      );
      const types = await auditTypes();
      expect(types).toContain("admin.user_disabled");
      expect(types).toContain("admin.user_enabled");
    });

    it("deletes a user but not the acting administrator", async () => {
      const user = await addUser(running, "to-delete", "delete password 1");
      const deleted = await request(
        `${running.url}/admin/users/${user.id}`,
        asAdmin({ method: "DELETE" }),
      );
      expect(deleted.status).toBe(204);
      const missing = await request(`${running.url}/admin/users/${user.id}`, asAdmin());
      expect(missing.status).toBe(404);
      expect(missing.body.error).toBe("not_found");
      expect(await auditTypes()).toContain("admin.user_deleted");

      const self = await request(
        `${running.url}/admin/users/${adminId}`,
        asAdmin({ method: "DELETE" }),
      );
      expect(self.status).toBe(400);
      expect(self.body.error).toBe("validation_failed");
    });

    it("answers 404 for an unknown id and 400 for a malformed one", async () => {
      const unknown = await request(
        `${running.url}/admin/users/00000000-0000-4000-8000-000000000000`,
        asAdmin(),
      );
      expect(unknown.status).toBe(404);
      expect(unknown.body.error).toBe("not_found");
      const malformed = await request(`${running.url}/admin/users/not-a-uuid`, asAdmin());
      expect(malformed.status).toBe(400);
      expect(malformed.body.error).toBe("validation_failed");
    });
  });

  describe("sessions", () => {
    it("lists and revokes one session, then all", async () => {
      const user = await addUser(running, "many-sessions", "sessions password 1");
      const first = await login(running.url, "many-sessions", "sessions password 1");
      const second = await login(running.url, "many-sessions", "sessions password 1");

      const listed = await request<{ sessions: { id: string }[] }>(
        `${running.url}/admin/users/${user.id}/sessions`,
        asAdmin(),
      );
      expect(listed.body.sessions).toHaveLength(2);

      const firstSid = (await running.server.guard.verify(first.accessToken)).sid as string;
      const revoked = await request(
        `${running.url}/admin/sessions/${firstSid}`,
        asAdmin({ method: "DELETE" }),
      );
      expect(revoked.status).toBe(204);
      const meFirst = await request(`${running.url}/auth/me`, {
        headers: { authorization: `Bearer ${first.accessToken}` },
      });
      expect(meFirst.body.error).toBe("token_revoked");
      const meSecond = await request(`${running.url}/auth/me`, {
        headers: { authorization: `Bearer ${second.accessToken}` },
      });
      expect(meSecond.status).toBe(200);

      const all = await request<{ revoked: number }>(
        `${running.url}/admin/users/${user.id}/sessions`,
        asAdmin({ method: "DELETE" }),
      );
      expect(all.body.revoked).toBe(1);
      const after = await request(`${running.url}/auth/me`, {
        headers: { authorization: `Bearer ${second.accessToken}` },
      });
      expect(after.body.error).toBe("token_revoked");

      const withRevoked = await request<{ sessions: { revokedReason: string }[] }>(
        `${running.url}/admin/users/${user.id}/sessions?include_revoked=true`,
        asAdmin(),
      );
      expect(withRevoked.body.sessions.map((session) => session.revokedReason).sort()).toEqual([
        "admin_revoked",
        "admin_revoked",
      ]);
      const types = await auditTypes();
      expect(types).toContain("admin.session_revoked");
      expect(types).toContain("admin.sessions_revoked");
    });
  });

  describe("keys", () => {
    it("publishes a rotated key before it signs", async () => {
      const before = await request<{ keys: { kid: string }[] }>(
        `${running.url}/.well-known/jwks.json`,
      );
      const rotation = await request<{ kid: string; activatesAt: string }>(
        `${running.url}/admin/keys/rotate`,
        asAdmin({ method: "POST" }),
      );
      expect(rotation.status).toBe(200);
      const after = await request<{ keys: { kid: string }[] }>(
        `${running.url}/.well-known/jwks.json`,
      );
      expect(after.body.keys.map((key) => key.kid)).toEqual([
        ...before.body.keys.map((key) => key.kid),
        rotation.body.kid,
      ]);
      expect(running.server.keys.getSigningKey().kid).not.toBe(rotation.body.kid);
      expect(Date.parse(rotation.body.activatesAt)).toBeGreaterThan(running.clock.now);
      expect(await auditTypes()).toContain("admin.keys_rotated");
    });
  });

  describe("audit", () => {
    it("filters events by user and type with a cursor", async () => {
      const page = await request<{
        events: { id: string; type: string }[];
        nextCursor: string | null;
      }>(`${running.url}/admin/audit?type=login.success&limit=2`, asAdmin());
      expect(page.status).toBe(200);
      expect(page.body.events).toHaveLength(2);
      expect(page.body.events.every((event) => event.type === "login.success")).toBe(true);
      const next = await request<{ events: { id: string }[] }>(
        `${running.url}/admin/audit?type=login.success&limit=2&before=${page.body.nextCursor}`,
        asAdmin(),
      );
      expect((next.body.events[0]?.id as string) < (page.body.events[1]?.id as string)).toBe(true);

      const mine = await request<{ events: { userId: string }[] }>(
        `${running.url}/admin/audit?user=${adminId}`,
        asAdmin(),
      );
      expect(mine.body.events.length).toBeGreaterThan(0);
      expect(mine.body.events.every((event) => event.userId === adminId)).toBe(true);
    });
  });
});
