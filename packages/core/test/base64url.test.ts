import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeBase64url,
  decodedLength,
  encodeBase64url,
  isCanonicalBase64url,
} from "../src/node/base64url.js";

describe("isCanonicalBase64url", () => {
  it("accepts encoder output of every length", () => {
    for (let length = 0; length <= 66; length++) {
      const text = randomBytes(length).toString("base64url");
      expect(isCanonicalBase64url(text)).toBe(true);
    }
  });

  it.each([
    ["padding", "QQ=="],
    ["single padding", "QUI="],
    ["plus", "a+bc"],
    ["slash", "a/bc"],
    ["space", "ab cd"],
    ["newline", "ab\ncd"],
    ["tab", "ab\tcd"],
    ["dot", "ab.c"],
    ["exclamation mark", "ab!c"],
    ["non-ASCII letter", "abé"],
    ["character above U+00FF", "ab\u0141c"],
    ["length mod 4 of 1", "QUJDR"],
    ["unused bits in a 2-character tail", "QR"],
    ["unused bits in a 3-character tail", "QUJ"],
  ])("rejects %s", (_name, text) => {
    expect(isCanonicalBase64url(text)).toBe(false);
  });

  it("accepts the empty string", () => {
    expect(isCanonicalBase64url("")).toBe(true);
  });

  it("agrees with a round trip through Node's encoder", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= .";
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...alphabet), maxLength: 12 }), (text) => {
        const roundTrip = Buffer.from(text, "base64url").toString("base64url") === text;
        expect(isCanonicalBase64url(text)).toBe(roundTrip);
      }),
      { seed: 7, numRuns: 2000 },
    );
  });
});

describe("decodeBase64url", () => {
  it("decodes canonical text", () => {
    expect(decodeBase64url("SGVsbG8")?.toString("utf8")).toBe("Hello");
  });

  it.each([
    ["padding", "SGVsbG8="],
    ["plus instead of minus", "-_-_".replace("-", "+")],
    ["slash instead of underscore", "-_-_".replace("_", "/")],
    ["whitespace", "SGVs bG8"],
    ["non-zero unused bits", "SGVsbG9"],
  ])("rejects %s", (_name, text) => {
    expect(decodeBase64url(text)).toBeUndefined();
  });

  it("round-trips random bytes", () => {
    for (let length = 0; length < 40; length++) {
      const bytes = randomBytes(length);
      expect(decodeBase64url(encodeBase64url(bytes))).toEqual(bytes);
    }
  });
});

describe("isCanonicalBase64url on a range", () => {
  it("checks only the given range", () => {
    expect(isCanonicalBase64url("!!SGVsbG8!!", 2, 9)).toBe(true);
  });

  it("rejects a bad character inside the range", () => {
    expect(isCanonicalBase64url("aaSG+sbG8aa", 2, 9)).toBe(false);
  });

  it("checks unused bits at the range end", () => {
    expect(isCanonicalBase64url("xxSGVsbG9xx", 2, 9)).toBe(false);
  });

  it("accepts an empty range", () => {
    expect(isCanonicalBase64url("a.b", 1, 1)).toBe(true);
  });

  it("rejects a range outside the text", () => {
    expect(isCanonicalBase64url("abcd", 2, 8)).toBe(false);
    expect(isCanonicalBase64url("abcd", 3, 2)).toBe(false);
  });
});

describe("decodedLength", () => {
  it("matches the decoded size of canonical text", () => {
    for (let length = 0; length < 40; length++) {
      expect(decodedLength(randomBytes(length).toString("base64url").length)).toBe(length);
    }
  });
});

describe("encodeBase64url", () => {
  it("encodes strings as UTF-8", () => {
    expect(encodeBase64url("é")).toBe("w6k");
  });

  it("encodes a view without its surrounding buffer", () => {
    const bytes = new Uint8Array([0, 1, 2, 3, 4]).subarray(1, 3);
    expect(encodeBase64url(bytes)).toBe("AQI");
  });
});
