export * from "./algorithms.js";
export * from "./claims.js";
export * from "./duration.js";
export * from "./errors.js";
