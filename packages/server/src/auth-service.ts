import { randomUUID } from "node:crypto";
import {
  type AccessTokenClaims,
  type RoleMap,
  SelloError,
  type SessionRecord,
  type Store,
  type UserRecord,
} from "@sello/core";
import type { IssuedAccessToken, IssueRequest } from "@sello/core/node";
import type { AuditLog, RequestOrigin } from "./audit.js";
import type { createLoginLimiter } from "./login-limiter.js";
import {
  checkNewPassword,
  hashPassword,
  isPasswordTooLong,
  verifyAgainstDummy,
  verifyPassword,
} from "./passwords.js";
import {
  createSuccessor,
  generateRefreshToken,
  hashRefreshToken,
  isRefreshTokenShaped,
  unsealSuccessor,
} from "./refresh-tokens.js";
import type { RevocationSink } from "./revocation-sink.js";
import { normaliseUsername } from "./usernames.js";

/** How many rotations a retry inside the grace window may follow to reach the current token. */
const MAX_SUCCESSOR_CHAIN = 8;

export interface SessionPolicy {
  /** Refresh-token idle lifetime, in seconds. */
  idleTtl: number;
  /** Refresh-token absolute lifetime, in seconds. */
  absoluteTtl: number;
  /** Seconds during which a rotated refresh token returns the same successor. */
  grace: number;
  /** The access-token lifetime, in seconds, for denying a logged-out token until it expires. */
  accessTtl: number;
  clientId: string;
}

export interface AuthServiceOptions {
  store: Store;
  issueAccessToken: (request: IssueRequest) => IssuedAccessToken;
  revocations: RevocationSink;
  limiter: ReturnType<typeof createLoginLimiter>;
  roles: RoleMap;
  audit: AuditLog;
  policy: SessionPolicy;
  clock: () => number;
}

/** A `rate_limited` error with the number of seconds for the `Retry-After` header. */
export class RateLimitedError extends SelloError {
  readonly retryAfterSeconds: number;

  constructor(retryAfterSeconds: number) {
    super("rate_limited", {
      message: `Too many failed attempts. Try again in ${retryAfterSeconds} ${retryAfterSeconds === 1 ? "second" : "seconds"}.`,
    });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The public view of a user, as login, refresh and `/auth/me` return it. */
export interface PublicUser {
  id: string;
  username: string;
  roles: string[];
  permissions: string[];
}

/** A new or renewed session: the access token, the refresh token and who it belongs to. */
export interface SessionTokens {
  accessToken: IssuedAccessToken;
  refreshToken: string;
  /** When the refresh token stops working if not used (ms since the epoch). */
  refreshExpiresAt: number;
  session: SessionRecord;
  user: PublicUser;
}

/**
 * The auth server's rules, independent of HTTP: login, refresh rotation with reuse detection,
 * logout, revocation, password changes and registration.
 */
export class AuthService {
  readonly #options: AuthServiceOptions;

  constructor(options: AuthServiceOptions) {
    this.#options = options;
  }

  get store(): Store {
    return this.#options.store;
  }

  /** Checks a username and password and opens a session. Every failure looks the same. */
  async login(username: string, password: string, origin: RequestOrigin): Promise<SessionTokens> {
    const { store, limiter, audit } = this.#options;
    const account = normaliseForLogin(username);
    const ip = origin.ip ?? "unknown";

    const limit = await limiter.check(ip, account ?? username);
    if (!limit.allowed) {
      await audit.record("login.rate_limited", { ...origin, detail: { account: account ?? null } });
      throw new RateLimitedError(limit.retryAfterSeconds);
    }

    const user = account === undefined ? undefined : await store.findUserByUsername(account);
    const valid = await this.#checkPassword(user, password);
    if (user === undefined || !valid || user.disabled) {
      await limiter.recordFailure(ip, account ?? username);
      await audit.record("login.failure", {
        ...origin,
        userId: user?.id ?? null,
        detail: { reason: loginFailureReason(user, valid) },
      });
      throw new SelloError("invalid_credentials");
    }

    await limiter.recordSuccess(ip, account ?? username);
    return this.#openSession(user, origin);
  }

  /**
   * Exchanges a refresh token for a new access token and a rotated refresh token. A token rotated
   * less than `grace` seconds ago returns the same successor; after that it is reuse, and the
   * whole session is revoked.
   */
  async refresh(refreshToken: unknown, origin: RequestOrigin): Promise<SessionTokens> {
    if (!isRefreshTokenShaped(refreshToken)) {
      throw new SelloError("invalid_refresh_token", { reason: "malformed" });
    }
    const { store, policy, clock } = this.#options;
    const now = clock();
    const successor = createSuccessor(refreshToken);

    const outcome = await store.rotateRefreshToken({
      presentedHash: hashRefreshToken(refreshToken),
      successorHash: hashRefreshToken(successor.token),
      sealedSuccessor: successor.sealed,
      now,
      idleExpiresAt: now + policy.idleTtl * 1000,
    });

    switch (outcome.kind) {
      case "unknown":
        throw new SelloError("invalid_refresh_token", { reason: "unknown" });
      case "session_ended":
        throw sessionEndedError(outcome.session, now);
      case "rotated":
        return this.#renewSession(outcome.session, successor.token, outcome.user);
      case "already_rotated": {
        const rotatedAt = outcome.token.rotatedAt ?? now;
        if (now - rotatedAt <= policy.grace * 1000) {
          const current = await this.#followSuccessors(refreshToken, outcome.token.sealedSuccessor);
          if (current !== undefined) {
            return this.#renewSession(outcome.session, current);
          }
        }
        await this.#revokeForReuse(outcome.session, origin);
        throw new SelloError("refresh_token_reused");
      }
    }
  }

  /**
   * Ends a session, found from a refresh token, an access token's `sid`, or both. Denies the
   * access token's `jti` until it expires. Unknown or already-ended sessions are not an error.
   */
  async logout(
    credentials: { refreshToken?: string | undefined; claims?: AccessTokenClaims | undefined },
    origin: RequestOrigin,
  ): Promise<void> {
    const { store } = this.#options;
    const sessionIds = new Set<string>();

    if (isRefreshTokenShaped(credentials.refreshToken)) {
      const token = await store.findRefreshToken(hashRefreshToken(credentials.refreshToken));
      if (token !== undefined) sessionIds.add(token.sessionId);
    }
    if (credentials.claims?.sid !== undefined) {
      sessionIds.add(credentials.claims.sid);
    }
    if (credentials.claims !== undefined) {
      await this.denyAccessToken(credentials.claims);
    }

    for (const sessionId of sessionIds) {
      const session = await store.findSession(sessionId);
      if (session === undefined) continue;
      await this.#revokeSession(session.id, "logout");
      await this.#options.audit.record("logout", { ...origin, userId: session.userId, sessionId });
    }
  }

  /** Revokes every session of the token's user and denies the presented access token. */
  async logoutAll(claims: AccessTokenClaims, origin: RequestOrigin): Promise<void> {
    await this.denyAccessToken(claims);
    const revoked = await this.revokeAllSessions(claims.sub, "logout_all");
    await this.#options.audit.record("logout.all", {
      ...origin,
      userId: claims.sub,
      sessionId: claims.sid ?? null,
      detail: { sessions: revoked.length },
    });
  }

  /**
   * Revokes every live session of a user, and every access token issued to them before now.
   * Returns the revoked session ids. Used by logout-all and by disabling an account.
   */
  async revokeAllSessions(userId: string, reason: string): Promise<string[]> {
    const { store, revocations, clock } = this.#options;
    const now = clock();
    const revoked = await store.revokeUserSessions(userId, reason, now);
    await store.setRevokedBefore(userId, now);
    for (const sessionId of revoked) {
      revocations.revokeSession(sessionId, now);
    }
    revocations.revokeUserBefore(userId, now);
    return revoked;
  }

  /** Denies one access token until its own expiry. */
  async denyAccessToken(claims: Pick<AccessTokenClaims, "jti" | "exp">): Promise<void> {
    const expiresAt = claims.exp * 1000;
    await this.#options.store.denyToken({ jti: claims.jti, expiresAt });
    this.#options.revocations.denyToken(claims.jti, expiresAt);
  }

  /** Loads the user behind a verified access token, with roles and permissions as stored now. */
  async me(claims: AccessTokenClaims): Promise<PublicUser> {
    const user = await this.#options.store.findUserById(claims.sub);
    if (user === undefined || user.disabled) {
      throw new SelloError("token_revoked", { reason: "user_gone" });
    }
    return this.#publicUser(user);
  }

  /**
   * Changes the password of the token's user after checking the current one, and revokes every
   * other session of that user. The session the request came from stays open.
   */
  async changePassword(
    claims: AccessTokenClaims,
    currentPassword: string,
    newPassword: string,
    origin: RequestOrigin,
  ): Promise<void> {
    const { store, clock, revocations, audit, limiter } = this.#options;
    const user = await store.findUserById(claims.sub);
    if (user === undefined || user.disabled) {
      throw new SelloError("token_revoked", { reason: "user_gone" });
    }

    // A stolen access token must not allow unlimited guesses of the current password, so these
    // checks count against the same limits as logins, under an account key of their own.
    const ip = origin.ip ?? "unknown";
    const account = `password-change:${user.id}`;
    const limit = await limiter.check(ip, account);
    if (!limit.allowed) {
      await audit.record("password.rate_limited", { ...origin, userId: user.id });
      throw new RateLimitedError(limit.retryAfterSeconds);
    }
    if (
      isPasswordTooLong(currentPassword) ||
      !(await verifyPassword(user.passwordHash, currentPassword)).valid
    ) {
      await limiter.recordFailure(ip, account);
      await audit.record("password.change_failed", { ...origin, userId: user.id });
      throw new SelloError("invalid_credentials", {
        message: "The current password is incorrect.",
      });
    }
    await limiter.recordSuccess(ip, account);
    checkNewPassword(newPassword, { username: user.username });

    const now = clock();
    await store.updatePasswordHash(user.id, await hashPassword(newPassword), now);
    const revoked = await store.revokeUserSessions(user.id, "password_change", now, claims.sid);
    for (const sessionId of revoked) {
      revocations.revokeSession(sessionId, now);
    }
    await audit.record("password.changed", {
      ...origin,
      userId: user.id,
      sessionId: claims.sid ?? null,
      detail: { revokedSessions: revoked.length },
    });
  }

  /** Creates an account with the given roles. Throws `username_taken` or `weak_password`. */
  async createUser(username: string, password: string, roles: string[]): Promise<PublicUser> {
    const { store, clock } = this.#options;
    const normalised = normaliseUsername(username);
    checkNewPassword(password, { username: normalised });
    const user = await store.createUser({
      id: randomUUID(),
      username: normalised,
      passwordHash: await hashPassword(password),
      roles,
      createdAt: clock(),
    });
    return this.#publicUser(user);
  }

  /** Self-service registration: a new account with the `viewer` role. */
  async register(username: string, password: string, origin: RequestOrigin): Promise<PublicUser> {
    const user = await this.createUser(username, password, ["viewer"]);
    await this.#options.audit.record("user.registered", { ...origin, userId: user.id });
    return user;
  }

  /**
   * Revokes a refresh token's session (RFC 7009). Access tokens are revoked by the HTTP layer,
   * which verifies them first. Unknown tokens are ignored, as the RFC requires.
   */
  async revokeRefreshToken(refreshToken: string, origin: RequestOrigin): Promise<boolean> {
    if (!isRefreshTokenShaped(refreshToken)) return false;
    const token = await this.#options.store.findRefreshToken(hashRefreshToken(refreshToken));
    if (token === undefined) return false;
    const session = await this.#options.store.findSession(token.sessionId);
    if (session === undefined) return false;
    await this.#revokeSession(session.id, "revoked");
    await this.#options.audit.record("token.revoked", {
      ...origin,
      userId: session.userId,
      sessionId: session.id,
      detail: { tokenType: "refresh_token" },
    });
    return true;
  }

  /** Runs the password check, against a dummy hash when the account does not exist. */
  async #checkPassword(user: UserRecord | undefined, password: string): Promise<boolean> {
    if (isPasswordTooLong(password)) {
      return false;
    }
    if (user === undefined) {
      await verifyAgainstDummy(password);
      return false;
    }
    const result = await verifyPassword(user.passwordHash, password);
    if (result.valid && result.needsRehash) {
      await this.#options.store.updatePasswordHash(
        user.id,
        await hashPassword(password),
        this.#options.clock(),
      );
    }
    return result.valid;
  }

  /** Opens a session after a successful login, stored with its `login.success` audit event. */
  async #openSession(user: UserRecord, origin: RequestOrigin): Promise<SessionTokens> {
    const { store, policy, clock, audit } = this.#options;
    const now = clock();
    const refreshToken = generateRefreshToken();
    const sessionId = randomUUID();
    const session = await audit.recordWith(
      "login.success",
      { ...origin, userId: user.id, sessionId },
      (event) =>
        store.createSession(
          {
            id: sessionId,
            userId: user.id,
            clientId: policy.clientId,
            createdAt: now,
            idleExpiresAt: now + Math.min(policy.idleTtl, policy.absoluteTtl) * 1000,
            absoluteExpiresAt: now + policy.absoluteTtl * 1000,
            ip: origin.ip,
            userAgent: origin.userAgent === null ? null : origin.userAgent.slice(0, 512),
          },
          hashRefreshToken(refreshToken),
          event,
        ),
    );
    return this.#tokensFor(user, session, refreshToken);
  }

  /** Issues tokens for a renewed session; reads the user unless the rotation already did. */
  async #renewSession(
    session: SessionRecord,
    refreshToken: string,
    user?: UserRecord,
  ): Promise<SessionTokens> {
    user ??= await this.#options.store.findUserById(session.userId);
    if (user === undefined || user.disabled) {
      await this.#revokeSession(session.id, "user_disabled");
      throw new SelloError("invalid_refresh_token", { reason: "user_gone" });
    }
    return this.#tokensFor(user, session, refreshToken);
  }

  #tokensFor(user: UserRecord, session: SessionRecord, refreshToken: string): SessionTokens {
    const publicUser = this.#publicUser(user);
    const accessToken = this.#options.issueAccessToken({
      subject: user.id,
      clientId: session.clientId,
      sessionId: session.id,
      roles: publicUser.roles,
      permissions: publicUser.permissions,
    });
    return {
      accessToken,
      refreshToken,
      refreshExpiresAt: session.idleExpiresAt,
      session,
      user: publicUser,
    };
  }

  /** Walks from a rotated token to the family's current token, decrypting each successor. */
  async #followSuccessors(presented: string, sealed: string | null): Promise<string | undefined> {
    let token = presented;
    let sealedNext = sealed;
    for (let step = 0; step < MAX_SUCCESSOR_CHAIN && sealedNext !== null; step++) {
      const next = unsealSuccessor(token, sealedNext);
      if (next === undefined) return undefined;
      const record = await this.#options.store.findRefreshToken(hashRefreshToken(next));
      if (record === undefined) return undefined;
      if (record.rotatedAt === null) return next;
      token = next;
      sealedNext = record.sealedSuccessor;
    }
    return undefined;
  }

  async #revokeForReuse(session: SessionRecord, origin: RequestOrigin): Promise<void> {
    await this.#revokeSession(session.id, "refresh_reuse");
    await this.#options.audit.record("refresh.reused", {
      ...origin,
      userId: session.userId,
      sessionId: session.id,
    });
  }

  async #revokeSession(sessionId: string, reason: string): Promise<void> {
    const now = this.#options.clock();
    await this.#options.store.revokeSession(sessionId, reason, now);
    this.#options.revocations.revokeSession(sessionId, now);
  }

  #publicUser(user: UserRecord): PublicUser {
    const roles = user.roles.filter((role) => this.#options.roles.has(role));
    return {
      id: user.id,
      username: user.username,
      roles,
      permissions: this.#options.roles.permissionsFor(roles),
    };
  }
}

/** Returns the audit reason of a failed login, kept out of the response so that all failures look alike. */
function loginFailureReason(user: UserRecord | undefined, passwordValid: boolean): string {
  if (user === undefined) {
    return "unknown_user";
  }
  return passwordValid ? "disabled" : "wrong_password";
}

/** Normalises a username typed at login; an impossible name is treated as an unknown account. */
function normaliseForLogin(username: string): string | undefined {
  try {
    return normaliseUsername(username);
  } catch {
    return undefined;
  }
}

function sessionEndedError(session: SessionRecord, now: number): SelloError {
  if (session.revokedAt !== null) {
    return new SelloError("invalid_refresh_token", { reason: "session_revoked" });
  }
  const reason = now >= session.absoluteExpiresAt ? "absolute_lifetime" : "idle_lifetime";
  return new SelloError("session_expired", { reason });
}
