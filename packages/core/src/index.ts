export * from "./algorithms.js";
export * from "./claims.js";
export * from "./duration.js";
export * from "./errors.js";
export * from "./revocation.js";
export * from "./roles.js";
export * from "./store.js";
