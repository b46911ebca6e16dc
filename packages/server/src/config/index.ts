export { renderSettingsTable } from "./docs.js";
export { ConfigError } from "./errors.js";
export { defaultPublicUrl, type LoadConfigOptions, loadConfig, withListenPort } from "./load.js";
export type { DatabaseConfig } from "./parsers.js";
export { redactConfig } from "./redact.js";
export {
  DEMO_USERS_MODES,
  type DemoUsersMode,
  LOG_LEVELS,
  type LogLevel,
  MODES,
  type Mode,
  REGISTRATION_MODES,
  type RegistrationMode,
  SETTINGS,
  type SettingDefinition,
  type SettingKey,
  type SettingValues,
} from "./settings.js";
export { CONFIG_FILE_VARIABLE, type SettingSource } from "./sources.js";
export type { AdminAccount, ServerConfig, TlsConfig } from "./types.js";
