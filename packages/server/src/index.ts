export * from "./admin-service.js";
export * from "./auth-service.js";
export * from "./config/index.js";
export * from "./key-encryption-key.js";
export * from "./key-manager.js";
export * from "./server.js";
export * from "./start-errors.js";
export * from "./store/index.js";
