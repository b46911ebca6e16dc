const UNIT_SECONDS: Record<string, number> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86_400,
  w: 604_800,
};

const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/;

/**
 * Parses a duration into whole or fractional seconds. Accepts a non-negative finite number of
 * seconds, a string of digits (seconds), or a number with a unit: `30s`, `10m`, `12h`, `7d`, `2w`.
 * Throws a TypeError naming `name` for anything else, including NaN, Infinity and negatives.
 */
export function parseDuration(value: number | string, name = "duration"): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) {
      throw new TypeError(
        `${name} must be a finite, non-negative number of seconds; got ${value}.`,
      );
    }
    return value;
  }
  if (typeof value !== "string") {
    throw new TypeError(
      `${name} must be a number of seconds or a string such as "10m"; got ${typeof value}.`,
    );
  }

  const text = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(text)) {
    return Number(text);
  }
  const match = DURATION_PATTERN.exec(text);
  if (match === null) {
    throw new TypeError(
      `${name} must be a number of seconds or a number with a unit (s, m, h, d, w) such as "10m" or "7d"; got ${JSON.stringify(value)}.`,
    );
  }
  const [, amount, unit] = match as unknown as [string, string, string];
  return Number(amount) * (UNIT_SECONDS[unit] as number);
}
