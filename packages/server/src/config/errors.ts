/**
 * The error `loadConfig` throws. `problems` lists every invalid setting found, each as one
 * sentence that names the environment variable (or the config file key) and states the fix.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    super(`Invalid Sello configuration (${count}):\n${problems.map((p) => `- ${p}`).join("\n")}`);
    this.problems = [...problems];
  }
}

/**
 * The error a setting parser throws. The loader prefixes `reason` with the setting's name and,
 * when `showValue` is true, appends the rejected value.
 */
export class InvalidSettingError extends Error {
  override readonly name = "InvalidSettingError";
  readonly reason: string;
  readonly showValue: boolean;

  constructor(reason: string, showValue = true) {
    super(reason);
    this.reason = reason;
    this.showValue = showValue;
  }
}
