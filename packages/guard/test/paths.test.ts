import { describe, expect, it } from "vitest";
import { compilePublicPaths, normalisePath } from "../src/paths.js";

describe("normalisePath", () => {
  const cases: [target: string, segments: string[] | undefined][] = [
    ["/", []],
    ["/auth/login", ["auth", "login"]],
    ["/auth/login?next=/x/../y", ["auth", "login"]],
    ["/auth/login#fragment", ["auth", "login"]],
    ["/auth/login/", ["auth", "login", ""]],
    ["/auth/%6cogin", ["auth", "login"]],
    ["/files/a%20b", ["files", "a b"]],
    ["/caf%C3%A9", ["café"]],
    ["/a:b@c!$&'()*+,=~", ["a:b@c!$&'()*+,=~"]],
    // Ambiguous paths are rejected whole.
    ["", undefined],
    ["auth/login", undefined],
    ["*", undefined],
    ["http://host/auth/login", undefined],
    ["//auth/login", undefined],
    ["/auth//login", undefined],
    ["/auth/./login", undefined],
    ["/auth/login/..", undefined],
    ["/auth/login/../../api/admin", undefined],
    ["/auth/%2e%2e/api", undefined],
    ["/auth/%2E/api", undefined],
    ["/auth/.%2e/api", undefined],
    ["/auth/login%2f..%2fapi", undefined],
    ["/auth/login%2F..%2Fapi", undefined],
    ["/auth/login%5c..%5capi", undefined],
    ["/auth\\login", undefined],
    ["/api/admin;/auth/login", undefined],
    ["/auth/login;jsessionid=1", undefined],
    ["/auth/login%3bx", undefined],
    ["/auth/%256cogin", undefined],
    ["/auth/login%252f..%252fapi", undefined],
    ["/auth/login%25", undefined],
    ["/auth/login%", undefined],
    ["/auth/login%zz", undefined],
    ["/auth/login%c3", undefined],
    ["/auth/login%00", undefined],
    ["/auth/login%0a", undefined],
    ["/auth/login%7f", undefined],
    ["/auth/login\u0000", undefined],
    ["/auth/log in", undefined],
    ["/auth/café", undefined],
    ["/auth/<login>", undefined],
  ];

  it.each(cases)("%j", (target, segments) => {
    expect(normalisePath(target)).toEqual(segments);
  });
});

describe("compilePublicPaths", () => {
  const isPublic = compilePublicPaths(["/auth/login", "/health", "/docs/*", "/files/a b"]);

  const cases: [target: string, expected: boolean][] = [
    ["/auth/login", true],
    ["/auth/login?x=1", true],
    ["/auth/%6cogin", true],
    ["/health", true],
    ["/docs", true],
    ["/docs/", true],
    ["/docs/guide", true],
    ["/docs/guide/intro", true],
    ["/files/a%20b", true],
    // Exact entries match exactly, by whole segments and case-sensitively.
    ["/auth/login/", false],
    ["/auth/login/x", false],
    ["/auth/login2", false],
    ["/auth", false],
    ["/AUTH/login", false],
    ["/auth/Login", false],
    ["/Health", false],
    ["/healthz", false],
    ["/docsx", false],
    ["/Docs/guide", false],
    ["/", false],
    ["/api/admin", false],
    // Escapes from a public path stay protected.
    ["/api/admin;/auth/login", false],
    ["/auth/login;x", false],
    ["/auth/login/../api/admin", false],
    ["/docs/../api/admin", false],
    ["/docs/%2e%2e/api/admin", false],
    ["/docs/guide/..", false],
    ["//auth/login", false],
    ["//docs/guide", false],
    ["/docs//guide", false],
    ["/auth/login%2f..%2fapi/admin", false],
    ["/docs/..%2fapi%2fadmin", false],
    ["/auth/%256cogin", false],
    ["/docs/%252e%252e/api", false],
    ["/auth/login%00", false],
    ["/docs\\..\\api", false],
    ["/api/admin?/auth/login", false],
    ["/api/admin#/auth/login", false],
  ];

  it.each(cases)("%j is public: %s", (target, expected) => {
    expect(isPublic(target)).toBe(expected);
  });

  it("empty list matches nothing", () => {
    const none = compilePublicPaths([]);
    expect(none("/")).toBe(false);
    expect(none("/auth/login")).toBe(false);
  });

  it("root entry matches only the root", () => {
    const rootOnly = compilePublicPaths(["/"]);
    expect(rootOnly("/")).toBe(true);
    expect(rootOnly("/?x=1")).toBe(true);
    expect(rootOnly("/index.html")).toBe(false);
  });

  const invalidEntries: [entry: unknown, fragment: string][] = [
    ["auth/login", "must be a string starting with /"],
    ["", "must be a string starting with /"],
    [42, "must be a string starting with /"],
    ["/*", "would make every path public"],
    ["/auth/login?x=1", "contains ?, #, %, ;"],
    ["/auth/login#x", "contains ?, #, %, ;"],
    ["/auth/%6cogin", "contains ?, #, %, ;"],
    ["/auth;login", "contains ?, #, %, ;"],
    ["/auth\\login", "contains ?, #, %, ;"],
    ["/auth\nlogin", "contains ?, #, %, ;"],
    ["/auth*", "* only as a final"],
    ["/docs/*/x", "* only as a final"],
    ["/docs/**", "* only as a final"],
    ["/auth/login/", "trailing slash"],
    ["//auth", "empty segment"],
    ["/auth/../login", "dot segment"],
    ["/auth/./login", "dot segment"],
  ];

  it.each(invalidEntries)("entry %j rejected", (entry, fragment) => {
    expect(() => compilePublicPaths([entry as string])).toThrow(TypeError);
    expect(() => compilePublicPaths([entry as string])).toThrow(fragment);
  });

  it("non-array rejected", () => {
    expect(() => compilePublicPaths("/health" as unknown as string[])).toThrow(
      "publicPaths must be an array",
    );
  });
});
