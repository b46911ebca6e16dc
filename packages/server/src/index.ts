export * from "./auth-service.js";
export * from "./config/index.js";
export * from "./server.js";
export * from "./signing-keys.js";
export * from "./store/index.js";
