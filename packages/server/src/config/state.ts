import { type SettingKey, type SettingValues, settingByKey } from "./settings.js";
import type { RawSetting, SettingSource } from "./sources.js";

/** Values and problems collected while a configuration is loaded. */
export interface LoadState {
  /** Folder that relative paths are resolved against. */
  readonly cwd: string;
  /** Settings given in the environment or the config file, the environment winning. */
  readonly raw: ReadonlyMap<SettingKey, RawSetting>;
  /**
   * Parsed values. A key is missing when its value was invalid or it has no default, and the
   * rules that depend on it are then skipped.
   */
  readonly values: Partial<SettingValues>;
  readonly sources: Record<SettingKey, SettingSource>;
  readonly problems: string[];
  readonly warnings: string[];
}

/** Returns the name to use in messages: the variable, or the file key where the value came from. */
export function nameOf(state: LoadState, key: SettingKey): string {
  return state.raw.get(key)?.label ?? settingByKey(key).env;
}

/**
 * Records a problem with the value of `key`. The given value is quoted unless `showValue` is
 * false, the setting is secret, or the value is a default.
 */
export function reportValue(
  state: LoadState,
  key: SettingKey,
  reason: string,
  showValue = true,
): void {
  const raw = state.raw.get(key);
  const quoted = !showValue || raw?.quotedValue === undefined ? "" : `; got ${raw.quotedValue}`;
  state.problems.push(`${nameOf(state, key)} ${reason}${quoted}.`);
}
