export {
  createRedisConnection,
  isRedisUnavailable,
  type RedisConnectionOptions,
  translateRedisError,
  waitUntilReady,
} from "./connection.js";
export { RedisLimiterStore, type RedisLimiterStoreOptions } from "./limiter-store.js";
export {
  createRedisRevocationFeed,
  type RedisRevocationFeed,
  type RedisRevocationFeedOptions,
  type RevocationFeedLogger,
} from "./revocation-feed.js";
