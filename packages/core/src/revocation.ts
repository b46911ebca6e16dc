import type { AccessTokenClaims } from "./claims.js";
import type { RevocationSnapshot } from "./store.js";

/** Decides whether a verified access token has been revoked. Guards call it on every request. */
export interface RevocationSource {
  /**
   * Returns true when the token is revoked. Throws `SelloError("service_unavailable")` when the
   * source cannot decide, for example when its feed has been out of date for too long.
   */
  isRevoked(claims: Pick<AccessTokenClaims, "jti" | "sub" | "iat" | "sid">): boolean;
}

export interface RevocationListOptions {
  /**
   * Seconds for which a revoked session or user entry is kept: the longest access-token lifetime
   * plus the verifiers' clock tolerance. After that every token it could affect has expired.
   */
  retentionSeconds: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
}

/**
 * An in-memory set of revocations: denied token ids, revoked sessions and per-user
 * "revoked before" times. The auth server updates it as it revokes; other processes feed it
 * from the store or a pub/sub channel. Entries are dropped once no unexpired token can match.
 */
export class RevocationList implements RevocationSource {
  readonly #deniedTokens = new Map<string, number>();
  readonly #revokedSessions = new Map<string, number>();
  readonly #userRevocations = new Map<string, number>();
  readonly #retentionMs: number;
  readonly #clock: () => number;
  #nextPruneAt = 0;

  constructor(options: RevocationListOptions) {
    if (!Number.isFinite(options.retentionSeconds) || options.retentionSeconds <= 0) {
      throw new TypeError(
        `retentionSeconds must be a positive number of seconds; got ${options.retentionSeconds}.`,
      );
    }
    this.#retentionMs = options.retentionSeconds * 1000;
    this.#clock = options.clock ?? Date.now;
  }

  /** Denies one access token by `jti` until `expiresAt` (ms), the token's own expiry. */
  denyToken(jti: string, expiresAt: number): void {
    this.#deniedTokens.set(jti, expiresAt);
  }

  /** Revokes every access token carrying this session id (`sid`). */
  revokeSession(sessionId: string, revokedAt: number): void {
    this.#revokedSessions.set(sessionId, revokedAt);
  }

  /** Revokes every access token of a user issued before `revokedBefore` (ms). */
  revokeUserBefore(userId: string, revokedBefore: number): void {
    const previous = this.#userRevocations.get(userId) ?? 0;
    this.#userRevocations.set(userId, Math.max(previous, revokedBefore));
  }

  /** Adds every entry of a snapshot loaded from the store. */
  apply(snapshot: RevocationSnapshot): void {
    for (const denied of snapshot.deniedTokens) {
      this.denyToken(denied.jti, denied.expiresAt);
    }
    for (const session of snapshot.revokedSessions) {
      this.revokeSession(session.sessionId, session.revokedAt);
    }
    for (const user of snapshot.userRevocations) {
      this.revokeUserBefore(user.userId, user.revokedBefore);
    }
  }

  isRevoked(claims: Pick<AccessTokenClaims, "jti" | "sub" | "iat" | "sid">): boolean {
    const now = this.#clock();
    if (now >= this.#nextPruneAt) {
      this.prune(now);
    }

    if (this.#deniedTokens.has(claims.jti)) {
      return true;
    }
    if (claims.sid !== undefined && this.#revokedSessions.has(claims.sid)) {
      return true;
    }
    const revokedBefore = this.#userRevocations.get(claims.sub);
    // `iat` has whole seconds, so the second in which the revocation happened is ambiguous. Tokens
    // from that second pass this rule, which lets a fresh login right after a revocation work.
    // Tokens issued before the revocation still fail because their session id is revoked.
    return revokedBefore !== undefined && claims.iat < Math.floor(revokedBefore / 1000);
  }

  /** Drops entries that can no longer match an unexpired token. */
  prune(now = this.#clock()): void {
    for (const [jti, expiresAt] of this.#deniedTokens) {
      if (expiresAt <= now) this.#deniedTokens.delete(jti);
    }
    for (const [sessionId, revokedAt] of this.#revokedSessions) {
      if (revokedAt + this.#retentionMs <= now) this.#revokedSessions.delete(sessionId);
    }
    for (const [userId, revokedBefore] of this.#userRevocations) {
      if (revokedBefore + this.#retentionMs <= now) this.#userRevocations.delete(userId);
    }
    this.#nextPruneAt = now + 1000;
  }

  /** Number of entries held, for metrics and tests. */
  get size(): number {
    return this.#deniedTokens.size + this.#revokedSessions.size + this.#userRevocations.size;
  }
}
