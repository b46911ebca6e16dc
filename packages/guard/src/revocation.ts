import { type AccessTokenClaims, type RevocationSource, SelloError } from "@sello/core";

/**
 * A revocation source fed from elsewhere, such as a store poll or a pub/sub channel, that can
 * tell how current it is. The guard reads `lastSyncedAt()` on every request and fails closed
 * with 503 `service_unavailable` once the source is older than `revocationMaxStaleness`, because
 * a stale source would accept tokens revoked since its last sync.
 */
export interface SyncedRevocationSource extends RevocationSource {
  /**
   * The last time the source confirmed that it has applied every revocation, in milliseconds since the
   * epoch, or undefined before the first sync. A feed that is connected and idle should still
   * advance it, for example on each heartbeat.
   */
  lastSyncedAt(): number | undefined;
}

/** Default for the guard's `revocationMaxStaleness`, in seconds. */
export const DEFAULT_REVOCATION_MAX_STALENESS = 30;

/** Reports whether a revocation source exposes `lastSyncedAt`. */
export function isSyncedRevocationSource(
  source: RevocationSource,
): source is SyncedRevocationSource {
  return typeof (source as Partial<SyncedRevocationSource>).lastSyncedAt === "function";
}

/**
 * Creates the per-request revocation check. It throws `token_revoked` for a revoked token. It
 * throws `service_unavailable` when the source is stale, when it throws an error that is not a
 * SelloError, or when it returns anything but a boolean (a Promise, for instance). So a broken
 * source never accepts a token by accident.
 */
export function createRevocationCheck(
  source: RevocationSource,
  maxStalenessMs: number,
  clock: () => number,
): (claims: AccessTokenClaims) => void {
  const synced = isSyncedRevocationSource(source) ? source : undefined;

  return (claims) => {
    if (synced !== undefined) {
      checkFreshness(synced, maxStalenessMs, clock());
    }

    let revoked: unknown;
    try {
      revoked = source.isRevoked(claims);
    } catch (error) {
      if (error instanceof SelloError) {
        throw error;
      }
      throw new SelloError("service_unavailable", { reason: "revocation_failed", cause: error });
    }

    if (revoked === true) {
      throw new SelloError("token_revoked");
    }
    if (revoked !== false) {
      throw new SelloError("service_unavailable", { reason: "revocation_result_invalid" });
    }
  };
}

function checkFreshness(source: SyncedRevocationSource, maxStalenessMs: number, now: number): void {
  let syncedAt: unknown;
  try {
    syncedAt = source.lastSyncedAt();
  } catch (error) {
    throw new SelloError("service_unavailable", { reason: "revocation_failed", cause: error });
  }

  if (typeof syncedAt !== "number" || !Number.isFinite(syncedAt)) {
    throw new SelloError("service_unavailable", { reason: "revocation_never_synced" });
  }
  if (now - syncedAt > maxStalenessMs) {
    throw new SelloError("service_unavailable", { reason: "revocation_stale" });
  }
}
