import type { RevocationList } from "@sello/core";
import type { FastifyBaseLogger } from "fastify";
import type { RedisRevocationFeed } from "./redis/index.js";

/** The destination of the auth server's revocations, from which every guard applies them. */
export type RevocationSink = Pick<
  RevocationList,
  "denyToken" | "revokeSession" | "revokeUserBefore"
>;

/**
 * Applies revocations to the local list at once and, with Redis, publishes them to the other
 * instances. A failed publish is logged, not thrown: the revocation is already in the store,
 * and every instance reloads the store's revocations when its feed reconnects.
 */
export function createRevocationSink(
  list: RevocationList,
  feed: RedisRevocationFeed | undefined,
  log: FastifyBaseLogger,
): RevocationSink {
  if (feed === undefined) {
    return list;
  }
  const report = (error: unknown) => log.warn({ err: error }, "publishing a revocation failed");
  return {
    denyToken(jti, expiresAt) {
      feed.publishDeniedToken(jti, expiresAt).catch(report);
    },
    revokeSession(sessionId, revokedAt) {
      feed.publishSessionRevoked(sessionId, revokedAt).catch(report);
    },
    revokeUserBefore(userId, revokedBefore) {
      feed.publishUserRevokedBefore(userId, revokedBefore).catch(report);
    },
  };
}
