import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_USERS } from "../src/demo-users.js";
import { MAX_NOTE_LENGTH } from "../src/notes-store.js";
import { startTestDemo, TEST_PASSWORD, type TestDemo } from "./helpers/demo.js";

interface ErrorBody {
  error: string;
  message: string;
}

describe("notes API", () => {
  let demo: TestDemo;
  const tokens: Record<string, string> = {};

  async function login(username: string, password: string): Promise<string> {
    const response = await demo.demo.server.app.inject({
      method: "POST",
      url: "/auth/login",
      payload: { username, password, refresh_token_delivery: "body" },
    });
    expect(response.statusCode, response.body).toBe(200);
    return (response.json() as { access_token: string }).access_token;
  }

  function call(method: "GET" | "POST" | "DELETE", url: string, role?: string, payload?: object) {
    return demo.demo.server.app.inject({
      method,
      url,
      headers: role === undefined ? {} : { authorization: `Bearer ${tokens[role]}` },
      ...(payload === undefined ? {} : { payload }),
    });
  }

  beforeAll(async () => {
    demo = await startTestDemo();
    for (const user of DEMO_USERS) {
      tokens[user.role] = await login(user.username, user.password);
    }
  });

  afterAll(async () => {
    await demo?.stop();
  });

  it("rejects a request without a token", async () => {
    const response = await call("GET", "/api/notes");

    expect(response.statusCode).toBe(401);
    expect((response.json() as ErrorBody).error).toBe("missing_token");
    expect(response.headers["www-authenticate"]).toMatch(/^Bearer /);
  });

  it("rejects an invalid token", async () => {
    const response = await demo.demo.server.app.inject({
      method: "GET",
      url: "/api/notes",
      headers: { authorization: "Bearer not.a.token" },
    });

    expect(response.statusCode).toBe(401);
    expect((response.json() as ErrorBody).error).toBe("invalid_token");
  });

  it("lets every role read", async () => {
    await demo.demo.notes.create({ text: "Readable", authorId: "seed", authorUsername: "admin" });

    for (const role of ["admin", "editor", "viewer"]) {
      const response = await call("GET", "/api/notes", role);
      expect(response.statusCode, role).toBe(200);
      const { notes } = response.json() as { notes: Array<{ text: string }> };
      expect(
        notes.map((note) => note.text),
        role,
      ).toContain("Readable");
    }
  });

  it("lets an editor create a note", async () => {
    const response = await call("POST", "/api/notes", "editor", { text: "  Trimmed note \n" });

    expect(response.statusCode).toBe(201);
    const { note } = response.json() as {
      note: { id: string; text: string; author: string; createdAt: string };
    };
    expect(note.text).toBe("Trimmed note");
    expect(note.author).toBe("editor");
    expect(Number.isNaN(Date.parse(note.createdAt))).toBe(false);
    expect((await demo.demo.notes.list())[0]?.id).toBe(note.id);
  });

  it("forbids a viewer to create", async () => {
    const response = await call("POST", "/api/notes", "viewer", { text: "Not allowed" });

    expect(response.statusCode).toBe(403);
    expect((response.json() as ErrorBody).error).toBe("insufficient_permissions");
    const stored = await demo.demo.notes.list();
    expect(stored.some((note) => note.text === "Not allowed")).toBe(false);
  });

  it("rejects invalid note bodies", async () => {
    const cases: Array<[string, object]> = [
      ["empty text", { text: "" }],
      ["white space only", { text: "   \n\t" }],
      ["too long", { text: "x".repeat(MAX_NOTE_LENGTH + 1) }],
      ["missing text", {}],
      ["text not a string", { text: 42 }],
      ["unknown field", { text: "ok", pinned: true }],
    ];
    for (const [name, payload] of cases) {
      const response = await call("POST", "/api/notes", "editor", payload);
      expect(response.statusCode, name).toBe(400);
      expect((response.json() as ErrorBody).error, name).toBe("validation_failed");
    }

    const longest = await call("POST", "/api/notes", "editor", {
      text: "é".repeat(MAX_NOTE_LENGTH),
    });
    expect(longest.statusCode).toBe(201);
  });

  it("rejects a body that is not JSON", async () => {
    const response = await demo.demo.server.app.inject({
      method: "POST",
      url: "/api/notes",
      headers: { authorization: `Bearer ${tokens.editor}`, "content-type": "text/plain" },
      payload: "text=hello",
    });

    expect(response.statusCode).toBe(415);
    expect((response.json() as ErrorBody).error).toBe("unsupported_media_type");
  });

  it("lets only an admin delete", async () => {
    const note = await demo.demo.notes.create({
      text: "To delete",
      authorId: "seed",
      authorUsername: "editor",
    });

    const byEditor = await call("DELETE", `/api/notes/${note.id}`, "editor");
    expect(byEditor.statusCode).toBe(403);
    expect((byEditor.json() as ErrorBody).error).toBe("insufficient_permissions");

    const byAdmin = await call("DELETE", `/api/notes/${note.id}`, "admin");
    expect(byAdmin.statusCode).toBe(204);
    expect(byAdmin.body).toBe("");

    const again = await call("DELETE", `/api/notes/${note.id}`, "admin");
    expect(again.statusCode).toBe(404);
    expect((again.json() as ErrorBody).error).toBe("not_found");
  });

  it("rejects a malformed note id", async () => {
    const response = await call("DELETE", "/api/notes/not-a-uuid", "admin");

    expect(response.statusCode).toBe(400);
    expect((response.json() as ErrorBody).error).toBe("validation_failed");
  });

  it("rejects the token of a revoked session", async () => {
    const userId = await demo.addUser("api-revoked", "editor");
    const token = await login("api-revoked", TEST_PASSWORD);
    await demo.demo.server.auth.revokeAllSessions(userId, "admin_revoked");

    const response = await demo.demo.server.app.inject({
      method: "GET",
      url: "/api/notes",
      headers: { authorization: `Bearer ${token}` },
    });

    expect(response.statusCode).toBe(401);
    expect((response.json() as ErrorBody).error).toBe("token_revoked");
  });

  it("leaves the auth routes public", async () => {
    const response = await demo.demo.server.app.inject({ method: "GET", url: "/demo/accounts" });

    expect(response.statusCode).toBe(200);
    const { accounts } = response.json() as { accounts: Array<{ username: string }> };
    expect(accounts.map((account) => account.username)).toEqual(["admin", "editor", "viewer"]);
    const jwks = await demo.demo.server.app.inject({
      method: "GET",
      url: "/.well-known/jwks.json",
    });
    expect(jwks.statusCode).toBe(200);
  });
});
