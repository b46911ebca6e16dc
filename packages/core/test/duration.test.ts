import { describe, expect, it } from "vitest";
import { parseDuration } from "../src/duration.js";

describe("parseDuration", () => {
  it.each([
    [600, 600],
    [0, 0],
    [1.5, 1.5],
    ["600", 600],
    ["30s", 30],
    ["10m", 600],
    ["12h", 43_200],
    ["7d", 604_800],
    ["2w", 1_209_600],
    [" 10 m ", 600],
    ["1.5h", 5400],
  ])("reads %j as %d seconds", (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });

  it.each([NaN, Infinity, -Infinity, -1, "", "abc", "10y", "-5m", "1e3", "m10", "10 minutes"])(
    "rejects %j with a TypeError naming the option",
    (input) => {
      expect(() => parseDuration(input as number | string, "accessTokenTtl")).toThrow(
        /accessTokenTtl/,
      );
      expect(() => parseDuration(input as number | string)).toThrow(TypeError);
    },
  );

  it("rejects values that are neither numbers nor strings", () => {
    expect(() => parseDuration(null as never)).toThrow(TypeError);
    expect(() => parseDuration({} as never)).toThrow(TypeError);
  });
});
