import { SelloError } from "@sello/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BEARER_REQUEST_REASONS, parseBearer, readAuthorization } from "../src/bearer.js";
import { toErrorResponse } from "../src/challenge.js";

/** Returns the outcome of a parse: the token, or the error's code and reason. */
function outcome(parse: (values: readonly string[]) => string, values: readonly string[]) {
  try {
    return { token: parse(values) };
  } catch (error) {
    if (!(error instanceof SelloError)) {
      throw error;
    }
    return { code: error.code, reason: error.reason };
  }
}

/** Parses by the plain reading of the rules, with a regular-expression split, as a reference. */
function referenceParse(values: readonly string[]): string {
  if (values.length === 0) {
    throw new SelloError("missing_token");
  }
  if (values.length > 1) {
    throw new SelloError("invalid_request", { reason: "duplicate_header" });
  }
  const value = (values[0] as string).trim();
  if (value === "") {
    throw new SelloError("invalid_request", { reason: "empty_header" });
  }
  const parts = value.split(/[ \t]+/);
  const [scheme, token, ...rest] = parts as [string, ...string[]];
  const token68 = /^[A-Za-z0-9\-._~+/]+=*$/;
  if (!/^bearer$/i.test(scheme)) {
    if (parts.length === 1 && token68.test(scheme) && scheme.includes(".")) {
      throw new SelloError("invalid_request", { reason: "no_scheme" });
    }
    throw new SelloError("missing_token", { reason: "other_scheme" });
  }
  if (token === undefined) {
    throw new SelloError("invalid_request", { reason: "no_token" });
  }
  if (rest.length > 0) {
    throw new SelloError("invalid_request", { reason: "extra_words" });
  }
  if (!token68.test(token)) {
    throw new SelloError("invalid_request", { reason: "not_token68" });
  }
  return token;
}

const TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl";

describe("parseBearer", () => {
  it.each([
    [[`Bearer ${TOKEN}`], { token: TOKEN }],
    [[`bEaReR \t ${TOKEN}  `], { token: TOKEN }],
    [["Bearer abc=="], { token: "abc==" }],
    [[], { code: "missing_token", reason: undefined }],
    [["a", "b"], { code: "invalid_request", reason: "duplicate_header" }],
    [[" \t "], { code: "invalid_request", reason: "empty_header" }],
    [["Basic dXNlcg=="], { code: "missing_token", reason: "other_scheme" }],
    [["Bearer2 abc"], { code: "missing_token", reason: "other_scheme" }],
    [["Beare abc"], { code: "missing_token", reason: "other_scheme" }],
    [["Bearerx"], { code: "missing_token", reason: "other_scheme" }],
    [["\u0130earer abc"], { code: "missing_token", reason: "other_scheme" }],
    [[TOKEN], { code: "invalid_request", reason: "no_scheme" }],
    [["Bearer.abc"], { code: "invalid_request", reason: "no_scheme" }],
    [["Bearer"], { code: "invalid_request", reason: "no_token" }],
    [["BEARER  "], { code: "invalid_request", reason: "no_token" }],
    [[`Bearer ${TOKEN} extra`], { code: "invalid_request", reason: "extra_words" }],
    [["Bearer a! b"], { code: "invalid_request", reason: "extra_words" }],
    [["Bearer abc!def"], { code: "invalid_request", reason: "not_token68" }],
    [["Bearer a=b"], { code: "invalid_request", reason: "not_token68" }],
    [["Bearer a\nb"], { code: "invalid_request", reason: "not_token68" }],
  ])("reads %j", (values, expected) => {
    expect(outcome(parseBearer, values)).toEqual(expected);
    expect(outcome(referenceParse, values)).toEqual(expected);
    if ("code" in expected && expected.code === "invalid_request") {
      expect(BEARER_REQUEST_REASONS.has(expected.reason as string)).toBe(true);
    }
  });

  it("agrees with the reference reading on any header value", () => {
    const alphabet = ["B", "b", "e", "E", "a", "r", "R", " ", "\t", "\n", ".", "=", "!", "x", "~"];
    const text = fc.oneof(
      fc.string(),
      fc.array(fc.constantFrom(...alphabet), { maxLength: 24 }).map((chars) => chars.join("")),
      fc
        .tuple(fc.constantFrom("Bearer", "bearer", "BEARER", "Basic", ""), fc.string())
        .map(([scheme, rest]) => `${scheme}${rest}`),
    );
    fc.assert(
      fc.property(fc.array(text, { maxLength: 2 }), (values) => {
        expect(outcome(parseBearer, values)).toEqual(outcome(referenceParse, values));
      }),
      { numRuns: 5000 },
    );
  });
});

describe("readAuthorization", () => {
  it("collects every Authorization value in any letter case", () => {
    const raw = ["Host", "x", "authorization", "a", "X-Other", "y", "AUTHORIZATION", "b"];
    expect(readAuthorization(raw)).toEqual(["a", "b"]);
  });

  it("ignores names that only resemble it", () => {
    expect(readAuthorization(["authorizations", "a", "authorizatio", "b"])).toEqual([]);
  });
});

describe("challenge for invalid_request", () => {
  it("challenges a malformed Authorization header", () => {
    const error = new SelloError("invalid_request", { reason: "extra_words" });
    expect(toErrorResponse(error, "api").headers["www-authenticate"]).toBe(
      'Bearer realm="api", error="invalid_request", error_description="The request is malformed."',
    );
  });

  it("does not challenge another bad request", () => {
    const malformedBody = new SelloError("invalid_request", { message: "Not JSON." });
    const response = toErrorResponse(malformedBody, "api");
    expect(response.status).toBe(400);
    expect(response.headers["www-authenticate"]).toBeUndefined();
  });
});
