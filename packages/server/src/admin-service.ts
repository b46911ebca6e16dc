import {
  type AuditEvent,
  type AuditQuery,
  type RoleMap,
  SelloError,
  type SessionRecord,
  type Store,
  type UserRecord,
} from "@sello/core";
import type { AuditLog, RequestOrigin } from "./audit.js";
import type { AuthService } from "./auth-service.js";
import type { RevocationSink } from "./revocation-sink.js";

/** An administrator's view of a user: the public fields plus account state. */
export interface AdminUserView {
  id: string;
  username: string;
  roles: string[];
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}

/** An administrator's view of a session. */
export interface AdminSessionView {
  id: string;
  userId: string;
  clientId: string;
  createdAt: string;
  lastUsedAt: string;
  idleExpiresAt: string;
  absoluteExpiresAt: string;
  revokedAt: string | null;
  revokedReason: string | null;
  ip: string | null;
  userAgent: string | null;
}

/** The administrator performing an action, recorded in its audit event. */
export interface Actor extends RequestOrigin {
  userId: string;
}

export interface AdminServiceOptions {
  store: Store;
  auth: AuthService;
  revocations: RevocationSink;
  roles: RoleMap;
  audit: AuditLog;
  clock: () => number;
}

/**
 * User, role and session management for administrators. Every change writes an audit event
 * naming the administrator who made it.
 */
export class AdminService {
  readonly #options: AdminServiceOptions;

  constructor(options: AdminServiceOptions) {
    this.#options = options;
  }

  async listUsers(query: { search?: string; limit?: number; after?: string }) {
    const limit = query.limit ?? 50;
    const users = await this.#options.store.listUsers({ ...query, limit: limit + 1 });
    const page = users.slice(0, limit);
    const nextCursor = users.length > limit ? (page.at(-1)?.username ?? null) : null;
    return { users: page.map(toUserView), nextCursor };
  }

  async getUser(userId: string): Promise<AdminUserView> {
    return toUserView(await this.#requireUser(userId));
  }

  async createUser(
    username: string,
    password: string,
    roles: string[],
    actor: Actor,
  ): Promise<AdminUserView> {
    this.#checkRoles(roles);
    const created = await this.#options.auth.createUser(username, password, roles);
    await this.#record("admin.user_created", actor, created.id, { roles });
    return this.getUser(created.id);
  }

  /** Replaces a user's roles. They reach access tokens at the user's next refresh. */
  async setRoles(userId: string, roles: string[], actor: Actor): Promise<AdminUserView> {
    this.#checkRoles(roles);
    const user = await this.#requireUser(userId);
    await this.#options.store.setRoles(user.id, roles, this.#options.clock());
    await this.#record("admin.roles_changed", actor, user.id, { from: user.roles, to: roles });
    return this.getUser(user.id);
  }

  /** Disables an account and revokes every session and access token it holds. */
  async disableUser(userId: string, actor: Actor): Promise<AdminUserView> {
    const user = await this.#requireUser(userId);
    await this.#options.store.setDisabled(user.id, true, this.#options.clock());
    const revoked = await this.#options.auth.revokeAllSessions(user.id, "user_disabled");
    await this.#record("admin.user_disabled", actor, user.id, { revokedSessions: revoked.length });
    return this.getUser(user.id);
  }

  async enableUser(userId: string, actor: Actor): Promise<AdminUserView> {
    const user = await this.#requireUser(userId);
    await this.#options.store.setDisabled(user.id, false, this.#options.clock());
    await this.#record("admin.user_enabled", actor, user.id, {});
    return this.getUser(user.id);
  }

  /** Deletes an account after revoking its sessions and access tokens. */
  async deleteUser(userId: string, actor: Actor): Promise<void> {
    const user = await this.#requireUser(userId);
    if (user.id === actor.userId) {
      throw new SelloError("validation_failed", {
        message: "Administrators cannot delete their own account.",
      });
    }
    await this.#options.auth.revokeAllSessions(user.id, "user_deleted");
    await this.#options.store.deleteUser(user.id);
    await this.#record("admin.user_deleted", actor, user.id, { username: user.username });
  }

  async listSessions(userId: string, includeRevoked: boolean): Promise<AdminSessionView[]> {
    const user = await this.#requireUser(userId);
    const sessions = await this.#options.store.listSessions(user.id, { includeRevoked });
    return sessions.map(toSessionView);
  }

  /** Revokes one session; its access tokens are rejected at once by every guard in the process. */
  async revokeSession(sessionId: string, actor: Actor): Promise<void> {
    const session = await this.#options.store.findSession(sessionId);
    if (session === undefined) {
      throw new SelloError("not_found", { message: "No session has this id." });
    }
    const now = this.#options.clock();
    await this.#options.store.revokeSession(session.id, "admin_revoked", now);
    this.#options.revocations.revokeSession(session.id, now);
    await this.#record("admin.session_revoked", actor, session.userId, { sessionId: session.id });
  }

  async revokeAllSessions(userId: string, actor: Actor): Promise<number> {
    const user = await this.#requireUser(userId);
    const revoked = await this.#options.auth.revokeAllSessions(user.id, "admin_revoked");
    await this.#record("admin.sessions_revoked", actor, user.id, { sessions: revoked.length });
    return revoked.length;
  }

  async listAudit(query: AuditQuery): Promise<{ events: AuditEvent[]; nextCursor: string | null }> {
    const limit = query.limit ?? 100;
    const events = await this.#options.store.listAudit({ ...query, limit: limit + 1 });
    const page = events.slice(0, limit);
    return { events: page, nextCursor: events.length > limit ? (page.at(-1)?.id ?? null) : null };
  }

  async #requireUser(userId: string): Promise<UserRecord> {
    const user = await this.#options.store.findUserById(userId);
    if (user === undefined) {
      throw new SelloError("not_found", { message: "No user has this id." });
    }
    return user;
  }

  #checkRoles(roles: string[]): void {
    const unknown = roles.filter((role) => !this.#options.roles.has(role));
    if (unknown.length > 0) {
      throw new SelloError("validation_failed", {
        message: `Unknown role ${JSON.stringify(unknown[0])}. Known roles: ${this.#options.roles.roles.join(", ")}.`,
      });
    }
  }

  async #record(type: string, actor: Actor, userId: string, detail: Record<string, unknown>) {
    await this.#options.audit.record(type, {
      ip: actor.ip,
      userAgent: actor.userAgent,
      userId,
      detail: { ...detail, actor: actor.userId },
    });
  }
}

function iso(time: number): string {
  return new Date(time).toISOString();
}

function toUserView(user: UserRecord): AdminUserView {
  return {
    id: user.id,
    username: user.username,
    roles: user.roles,
    disabled: user.disabled,
    createdAt: iso(user.createdAt),
    updatedAt: iso(user.updatedAt),
  };
}

function toSessionView(session: SessionRecord): AdminSessionView {
  return {
    id: session.id,
    userId: session.userId,
    clientId: session.clientId,
    createdAt: iso(session.createdAt),
    lastUsedAt: iso(session.lastUsedAt),
    idleExpiresAt: iso(session.idleExpiresAt),
    absoluteExpiresAt: iso(session.absoluteExpiresAt),
    revokedAt: session.revokedAt === null ? null : iso(session.revokedAt),
    revokedReason: session.revokedReason,
    ip: session.ip,
    userAgent: session.userAgent,
  };
}
