import { randomUUID } from "node:crypto";
import {
  type AuditEvent,
  isSelloError,
  type NewSession,
  type Store,
  type StoredKey,
} from "@sello/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const HOUR = 3_600_000;

/**
 * The cases every {@link Store} implementation must pass. `open` returns a fresh, migrated,
 * empty store; `dispose` releases it.
 */
export function describeStoreConformance(
  name: string,
  open: () => Promise<Store>,
  dispose: (store: Store) => Promise<void> = (store) => store.close(),
): void {
  describe(`store conformance: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await dispose(store);
    });

    async function addUser(username = `user-${randomUUID().slice(0, 8)}`, roles = ["viewer"]) {
      return store.createUser({
        id: randomUUID(),
        username,
        passwordHash: "$argon2id$placeholder",
        roles,
        createdAt: 1_000,
      });
    }

    function loginEvent(id: string, userId: string, sessionId: string): AuditEvent {
      return {
        id,
        time: 10_000,
        type: "login.success",
        userId,
        sessionId,
        ip: "127.0.0.1",
        userAgent: "conformance",
        detail: {},
      };
    }

    function newSession(userId: string, now = 10_000): NewSession {
      return {
        id: randomUUID(),
        userId,
        clientId: "sello-web",
        createdAt: now,
        idleExpiresAt: now + HOUR,
        absoluteExpiresAt: now + 24 * HOUR,
        ip: "127.0.0.1",
        userAgent: "conformance",
      };
    }

    function rotation(presentedHash: string, now: number) {
      return {
        presentedHash,
        successorHash: `hash-${randomUUID()}`,
        sealedSuccessor: `sealed-${randomUUID()}`,
        now,
        idleExpiresAt: now + HOUR,
      };
    }

    describe("migrations", () => {
      it("run again without changes", async () => {
        await store.migrate();
        await store.migrate();
        expect(await store.countUsers()).toBe(0);
      });

      it("answer ping", async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe("users", () => {
      it("round-trip every field", async () => {
        const created = await addUser("alice", ["admin", "editor"]);
        const found = await store.findUserById(created.id);
        expect(found).toEqual(created);
        expect(found?.roles).toEqual(["admin", "editor"]);
        expect(found?.disabled).toBe(false);
        expect(found?.revokedBefore).toBeNull();
        expect(await store.findUserByUsername("alice")).toEqual(created);
        expect(await store.findUserByUsername("bob")).toBeUndefined();
      });

      it("reject a duplicate username as username_taken", async () => {
        await addUser("alice");
        const duplicate = addUser("alice");
        await expect(duplicate).rejects.toSatisfy((error) => isSelloError(error, "username_taken"));
        expect(await store.countUsers()).toBe(1);
      });

      it("update password hash, roles, disabled flag and revoked-before time", async () => {
        const user = await addUser();
        await store.updatePasswordHash(user.id, "$argon2id$new", 2_000);
        await store.setRoles(user.id, ["editor"], 3_000);
        await store.setDisabled(user.id, true, 4_000);
        await store.setRevokedBefore(user.id, 5_000);
        const found = await store.findUserById(user.id);
        expect(found?.passwordHash).toBe("$argon2id$new");
        expect(found?.roles).toEqual(["editor"]);
        expect(found?.disabled).toBe(true);
        expect(found?.revokedBefore).toBe(5_000);
        expect(found?.updatedAt).toBe(4_000);
      });

      it("list in username order with search and cursor", async () => {
        for (const name of ["carol", "alice", "bob", "alina", "dave"]) {
          await addUser(name);
        }
        const all = await store.listUsers();
        expect(all.map((user) => user.username)).toEqual([
          "alice",
          "alina",
          "bob",
          "carol",
          "dave",
        ]);
        const firstPage = await store.listUsers({ limit: 2 });
        expect(firstPage.map((user) => user.username)).toEqual(["alice", "alina"]);
        const secondPage = await store.listUsers({ limit: 2, after: "alina" });
        expect(secondPage.map((user) => user.username)).toEqual(["bob", "carol"]);
        const searched = await store.listUsers({ search: "ali" });
        expect(searched.map((user) => user.username)).toEqual(["alice", "alina"]);
      });

      it("treat LIKE wildcards in a search as literal characters", async () => {
        await addUser("a_b");
        await addUser("axb");
        await addUser("50%off");
        expect((await store.listUsers({ search: "_" })).map((user) => user.username)).toEqual([
          "a_b",
        ]);
        expect((await store.listUsers({ search: "%" })).map((user) => user.username)).toEqual([
          "50%off",
        ]);
      });

      it("delete a user with their sessions and refresh tokens", async () => {
        const user = await addUser();
        const session = await store.createSession(newSession(user.id), "hash-a");
        expect(await store.deleteUser(user.id)).toBe(true);
        expect(await store.findUserById(user.id)).toBeUndefined();
        expect(await store.findSession(session.id)).toBeUndefined();
        expect(await store.findRefreshToken("hash-a")).toBeUndefined();
        expect(await store.deleteUser(user.id)).toBe(false);
      });
    });

    describe("sessions and refresh tokens", () => {
      it("create a session with its first refresh token", async () => {
        const user = await addUser();
        const session = await store.createSession(newSession(user.id), "hash-first");
        expect(await store.findSession(session.id)).toEqual(session);
        expect(session.revokedAt).toBeNull();
        const token = await store.findRefreshToken("hash-first");
        expect(token).toEqual({
          hash: "hash-first",
          sessionId: session.id,
          createdAt: 10_000,
          rotatedAt: null,
          successorHash: null,
          sealedSuccessor: null,
        });
      });

      it("leave nothing behind when the first refresh token cannot be stored", async () => {
        const user = await addUser();
        await store.createSession(newSession(user.id), "hash-taken");
        const second = newSession(user.id);
        await expect(store.createSession(second, "hash-taken")).rejects.toBeDefined();
        expect(await store.findSession(second.id)).toBeUndefined();
      });

      it("store a session with its audit event", async () => {
        const user = await addUser();
        const session = newSession(user.id);
        const event = loginEvent("evt-session", user.id, session.id);
        await store.createSession(session, "hash-audited", event);
        expect(await store.findSession(session.id)).toBeDefined();
        expect(await store.listAudit({ userId: user.id })).toEqual([event]);
      });

      it("store no event for a failed session", async () => {
        const user = await addUser();
        await store.createSession(newSession(user.id), "hash-audit-taken");
        const second = newSession(user.id);
        const event = loginEvent("evt-failed", user.id, second.id);
        await expect(store.createSession(second, "hash-audit-taken", event)).rejects.toBeDefined();
        expect(await store.findSession(second.id)).toBeUndefined();
        expect(await store.listAudit({ userId: user.id })).toEqual([]);
      });

      it("store no session for a failed event", async () => {
        const user = await addUser();
        const first = newSession(user.id);
        await store.createSession(
          first,
          "hash-event-1",
          loginEvent("evt-twice", user.id, first.id),
        );
        const second = newSession(user.id);
        const duplicate = loginEvent("evt-twice", user.id, second.id);
        await expect(store.createSession(second, "hash-event-2", duplicate)).rejects.toBeDefined();
        expect(await store.findSession(second.id)).toBeUndefined();
        expect(await store.findRefreshToken("hash-event-2")).toBeUndefined();
      });

      it("rotate the current token and move the idle expiry", async () => {
        const user = await addUser();
        const session = await store.createSession(newSession(user.id), "hash-1");
        const request = rotation("hash-1", 20_000);
        const outcome = await store.rotateRefreshToken(request);
        expect(outcome.kind).toBe("rotated");
        if (outcome.kind !== "rotated") return;
        expect(outcome.session.id).toBe(session.id);
        expect(outcome.user?.id).toBe(user.id);
        expect(outcome.user?.roles).toEqual(user.roles);
        expect(outcome.session.lastUsedAt).toBe(20_000);
        expect(outcome.session.idleExpiresAt).toBe(20_000 + HOUR);

        const old = await store.findRefreshToken("hash-1");
        expect(old?.rotatedAt).toBe(20_000);
        expect(old?.successorHash).toBe(request.successorHash);
        expect(old?.sealedSuccessor).toBe(request.sealedSuccessor);
        const successor = await store.findRefreshToken(request.successorHash);
        expect(successor?.rotatedAt).toBeNull();
        expect(successor?.sessionId).toBe(session.id);
      });

      it("never move the idle expiry past the absolute expiry", async () => {
        const user = await addUser();
        const base = newSession(user.id);
        await store.createSession(
          {
            ...base,
            idleExpiresAt: base.createdAt + 1.9 * HOUR,
            absoluteExpiresAt: base.createdAt + 2 * HOUR,
          },
          "h",
        );
        const outcome = await store.rotateRefreshToken({
          ...rotation("h", base.createdAt + 1.5 * HOUR),
          idleExpiresAt: base.createdAt + 2.5 * HOUR,
        });
        expect(outcome.kind === "rotated" && outcome.session.idleExpiresAt).toBe(
          base.createdAt + 2 * HOUR,
        );
      });

      it("report a token rotated before as already_rotated", async () => {
        const user = await addUser();
        await store.createSession(newSession(user.id), "hash-1");
        const first = rotation("hash-1", 20_000);
        await store.rotateRefreshToken(first);
        const outcome = await store.rotateRefreshToken(rotation("hash-1", 21_000));
        expect(outcome.kind).toBe("already_rotated");
        if (outcome.kind !== "already_rotated") return;
        expect(outcome.token.successorHash).toBe(first.successorHash);
        expect(outcome.token.rotatedAt).toBe(20_000);
        expect(await store.findRefreshToken(first.successorHash)).toBeDefined();
      });

      it("rotate exactly once when ten callers race on one token", async () => {
        const user = await addUser();
        await store.createSession(newSession(user.id), "hash-race");
        const outcomes = await Promise.all(
          Array.from({ length: 10 }, () => store.rotateRefreshToken(rotation("hash-race", 20_000))),
        );
        const kinds = outcomes.map((outcome) => outcome.kind).sort();
        expect(kinds.filter((kind) => kind === "rotated")).toHaveLength(1);
        expect(kinds.filter((kind) => kind === "already_rotated")).toHaveLength(9);
        const token = await store.findRefreshToken("hash-race");
        for (const outcome of outcomes) {
          if (outcome.kind === "already_rotated") {
            expect(outcome.token.successorHash).toBe(token?.successorHash);
          }
        }
      });

      it("report an unknown hash as unknown", async () => {
        expect(await store.rotateRefreshToken(rotation("no-such-hash", 1))).toEqual({
          kind: "unknown",
        });
      });

      it("refuse to rotate in a revoked, idle or expired session", async () => {
        const user = await addUser();
        const revoked = await store.createSession(newSession(user.id), "hash-revoked");
        await store.revokeSession(revoked.id, "logout", 15_000);
        expect((await store.rotateRefreshToken(rotation("hash-revoked", 20_000))).kind).toBe(
          "session_ended",
        );
        expect((await store.findRefreshToken("hash-revoked"))?.rotatedAt).toBeNull();

        await store.createSession(newSession(user.id), "hash-idle");
        const idle = await store.rotateRefreshToken(rotation("hash-idle", 10_000 + HOUR));
        expect(idle.kind).toBe("session_ended");

        const base = newSession(user.id);
        await store.createSession({ ...base, idleExpiresAt: base.createdAt + 48 * HOUR }, "h-abs");
        const absolute = await store.rotateRefreshToken(rotation("h-abs", 10_000 + 24 * HOUR));
        expect(absolute.kind).toBe("session_ended");
      });

      it("revoke one session once", async () => {
        const user = await addUser();
        const session = await store.createSession(newSession(user.id), "h1");
        expect(await store.revokeSession(session.id, "logout", 30_000)).toBe(true);
        expect(await store.revokeSession(session.id, "logout", 31_000)).toBe(false);
        const found = await store.findSession(session.id);
        expect(found?.revokedAt).toBe(30_000);
        expect(found?.revokedReason).toBe("logout");
        expect(await store.revokeSession("no-such-session", "logout", 1)).toBe(false);
      });

      it("revoke every session of a user except one", async () => {
        const user = await addUser();
        const other = await addUser();
        const keep = await store.createSession(newSession(user.id), "h1");
        const drop1 = await store.createSession(newSession(user.id), "h2");
        const drop2 = await store.createSession(newSession(user.id), "h3");
        const foreign = await store.createSession(newSession(other.id), "h4");
        const revoked = await store.revokeUserSessions(user.id, "password_change", 40_000, keep.id);
        expect(revoked.sort()).toEqual([drop1.id, drop2.id].sort());
        expect((await store.listSessions(user.id)).map((session) => session.id)).toEqual([keep.id]);
        expect(await store.listSessions(user.id, { includeRevoked: true })).toHaveLength(3);
        expect((await store.findSession(foreign.id))?.revokedAt).toBeNull();

        const rest = await store.revokeUserSessions(user.id, "logout_all", 41_000);
        expect(rest).toEqual([keep.id]);
        expect(await store.listSessions(user.id)).toEqual([]);
      });
    });

    describe("revocations", () => {
      it("load denied tokens, revoked sessions and user revocations since a time", async () => {
        const user = await addUser();
        const session = await store.createSession(newSession(user.id), "h1");
        await store.denyToken({ jti: "jti-live", expiresAt: 100_000 });
        await store.denyToken({ jti: "jti-live", expiresAt: 100_000 });
        await store.denyToken({ jti: "jti-old", expiresAt: 5_000 });
        await store.revokeSession(session.id, "logout", 50_000);
        await store.setRevokedBefore(user.id, 60_000);

        const snapshot = await store.loadRevocations(20_000);
        expect(snapshot.deniedTokens).toEqual([{ jti: "jti-live", expiresAt: 100_000 }]);
        expect(snapshot.revokedSessions).toEqual([{ sessionId: session.id, revokedAt: 50_000 }]);
        expect(snapshot.userRevocations).toEqual([{ userId: user.id, revokedBefore: 60_000 }]);

        const later = await store.loadRevocations(70_000);
        expect(later.revokedSessions).toEqual([]);
        expect(later.userRevocations).toEqual([]);
      });

      it("purge expired denials and ended sessions", async () => {
        const user = await addUser();
        const ended = await store.createSession(newSession(user.id), "h1");
        const live = await store.createSession(newSession(user.id, 500_000), "h2");
        await store.revokeSession(ended.id, "logout", 20_000);
        await store.denyToken({ jti: "old", expiresAt: 30_000 });
        await store.denyToken({ jti: "new", expiresAt: 900_000 });

        const removed = await store.purgeExpired(100_000);
        expect(removed).toBe(2);
        expect(await store.findSession(ended.id)).toBeUndefined();
        expect(await store.findRefreshToken("h1")).toBeUndefined();
        expect(await store.findSession(live.id)).toBeDefined();
        expect((await store.loadRevocations(0)).deniedTokens.map((entry) => entry.jti)).toEqual([
          "new",
        ]);
      });
    });

    describe("signing keys", () => {
      it("save, list in creation order, update states and delete", async () => {
        const first: StoredKey = {
          kid: "kid-1",
          alg: "ES256",
          state: "current",
          sealedPrivateKey: "sealed-1",
          createdAt: 1_000,
          activatedAt: 1_000,
          retiredAt: null,
          verifyUntil: null,
        };
        const second: StoredKey = {
          ...first,
          kid: "kid-2",
          state: "next",
          sealedPrivateKey: "sealed-2",
          createdAt: 2_000,
          activatedAt: null,
        };
        await store.saveKey(first);
        await store.saveKey(second);
        expect((await store.listKeys()).map((key) => key.kid)).toEqual(["kid-1", "kid-2"]);

        await store.updateKeys([
          { ...first, state: "retired", retiredAt: 3_000, verifyUntil: 9_000 },
          { ...second, state: "current", activatedAt: 3_000 },
        ]);
        const keys = await store.listKeys();
        expect(keys[0]).toEqual({
          ...first,
          state: "retired",
          retiredAt: 3_000,
          verifyUntil: 9_000,
        });
        expect(keys[1]?.state).toBe("current");
        expect(keys[1]?.activatedAt).toBe(3_000);
        expect(keys[1]?.sealedPrivateKey).toBe("sealed-2");

        await store.deleteKey("kid-1");
        expect((await store.listKeys()).map((key) => key.kid)).toEqual(["kid-2"]);
      });
    });

    describe("audit events", () => {
      it("filter by user, type and time, newest first, with a cursor", async () => {
        for (let index = 0; index < 5; index++) {
          await store.appendAudit({
            id: `evt-${String(index).padStart(3, "0")}`,
            time: 1_000 * (index + 1),
            type: index % 2 === 0 ? "login.success" : "login.failure",
            userId: index < 3 ? "user-a" : "user-b",
            sessionId: null,
            ip: "127.0.0.1",
            userAgent: "conformance",
            detail: { attempt: index },
          });
        }
        const all = await store.listAudit();
        expect(all.map((event) => event.id)).toEqual([
          "evt-004",
          "evt-003",
          "evt-002",
          "evt-001",
          "evt-000",
        ]);
        expect(all[0]?.detail).toEqual({ attempt: 4 });
        expect((await store.listAudit({ userId: "user-b" })).map((event) => event.id)).toEqual([
          "evt-004",
          "evt-003",
        ]);
        expect((await store.listAudit({ type: "login.failure" })).map((event) => event.id)).toEqual(
          ["evt-003", "evt-001"],
        );
        const window = await store.listAudit({ since: 2_000, until: 4_000 });
        expect(window.map((event) => event.id)).toEqual(["evt-002", "evt-001"]);
        const page = await store.listAudit({ limit: 2, before: "evt-003" });
        expect(page.map((event) => event.id)).toEqual(["evt-002", "evt-001"]);
      });
    });
  });
}
