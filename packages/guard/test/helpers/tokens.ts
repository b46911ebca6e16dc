import { randomBytes } from "node:crypto";
import { type AccessTokenClaims, RevocationList } from "@sello/core";
import {
  createAccessTokenIssuer,
  type IssueRequest,
  type SelloKey,
  signJws,
} from "@sello/core/node";
import type { SyncedRevocationSource } from "../../src/revocation.js";

export const ISSUER = "https://auth.test.example";
export const AUDIENCE = "notes-api";
export const CLIENT_ID = "notes-web";

/** 2030-01-01T00:00:00Z, in milliseconds. Tests move it explicitly; nothing sleeps. */
export const START_TIME = Date.UTC(2030, 0, 1);

/** A clock that moves only when a test calls `advance`. */
export class FrozenClock {
  now = START_TIME;
  readonly read = (): number => this.now;

  advance(seconds: number): void {
    this.now += seconds * 1000;
  }
}

/** Issues real access tokens and hand-built variants with a given key and clock. */
export class TokenKit {
  constructor(
    readonly key: SelloKey,
    readonly clock: FrozenClock,
  ) {}

  /** Issues a token with core's issuer, as the auth server would. */
  issue(
    request: Partial<IssueRequest> = {},
    overrides: { issuer?: string; audience?: string; offsetSeconds?: number } = {},
  ): { token: string; claims: AccessTokenClaims } {
    const offsetMs = (overrides.offsetSeconds ?? 0) * 1000;
    const issue = createAccessTokenIssuer({
      issuer: overrides.issuer ?? ISSUER,
      audience: overrides.audience ?? AUDIENCE,
      keys: { getSigningKey: () => this.key },
      clientId: CLIENT_ID,
      clock: () => this.clock.now + offsetMs,
    });
    const issued = issue({ subject: "user-1", ...request });
    return { token: issued.token, claims: issued.claims };
  }

  /**
   * Signs a token with this kit's key and any header and claims, for shapes the issuer never
   * produces. Header and claims start from valid values.
   */
  sign(header: Record<string, unknown> = {}, claims: Record<string, unknown> = {}): string {
    const iat = Math.floor(this.clock.now / 1000);
    return signJws(
      this.key,
      { typ: "at+jwt", kid: this.key.kid, ...header },
      {
        iss: ISSUER,
        sub: "user-1",
        aud: AUDIENCE,
        iat,
        exp: iat + 600,
        jti: randomBytes(16).toString("base64url"),
        client_id: CLIENT_ID,
        roles: [],
        permissions: [],
        ...claims,
      },
    );
  }

  /** Signs a token whose header names a random key id that no JWKS publishes. */
  signWithRandomKid(): string {
    return this.sign({ kid: randomBytes(12).toString("base64url") });
  }
}

/**
 * A revocation source as a feed-backed process would expose it: a RevocationList plus the time
 * of its last sync, which tests set to simulate a stalled feed.
 */
export class TestRevocationFeed implements SyncedRevocationSource {
  readonly list: RevocationList;
  syncedAt: number | undefined;
  failure: Error | undefined;

  constructor(private readonly clock: FrozenClock) {
    this.list = new RevocationList({ retentionSeconds: 3600, clock: clock.read });
    this.syncedAt = undefined;
  }

  /** Without an explicit sync time, the feed counts as synced at every read. */
  lastSyncedAt(): number | undefined {
    return this.syncedAt ?? this.clock.now;
  }

  isRevoked(claims: Pick<AccessTokenClaims, "jti" | "sub" | "iat" | "sid">): boolean {
    if (this.failure !== undefined) {
      throw this.failure;
    }
    return this.list.isRevoked(claims);
  }
}
