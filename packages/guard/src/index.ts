export * from "./bearer.js";
export * from "./challenge.js";
export * from "./guard.js";
export {
  createJwksSource,
  DEFAULT_JWKS_COOLDOWN,
  DEFAULT_JWKS_MAX_AGE,
  DEFAULT_JWKS_TIMEOUT,
  type JwksSourceOptions,
  type RefreshableKeySource,
  RemoteJwksSource,
} from "./jwks-source.js";
export { DEFAULT_GUARD_CACHE_ENTRIES } from "./options.js";
export * from "./paths.js";
export * from "./requirements.js";
export * from "./revocation.js";
