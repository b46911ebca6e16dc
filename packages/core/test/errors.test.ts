import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ERROR_CODES,
  ERROR_REGISTRY,
  isErrorCode,
  isSelloError,
  SelloError,
  statusForCode,
} from "../src/errors.js";

const docsPath = new URL("../../../docs/errors.md", import.meta.url);

function readDocumentedCodes(): Map<string, number> {
  const rows = new Map<string, number>();
  for (const line of readFileSync(docsPath, "utf8").split("\n")) {
    const match = /^\| `([a-z_]+)` \| (\d{3}) \|/.exec(line);
    if (match !== null) {
      rows.set(match[1] as string, Number(match[2]));
    }
  }
  return rows;
}

describe("error registry", () => {
  it("matches docs/errors.md code for code", () => {
    const documented = readDocumentedCodes();
    expect([...documented.keys()].sort()).toEqual([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) {
      expect(documented.get(code), code).toBe(ERROR_REGISTRY[code].status);
    }
  });

  it("lists every code the HTTP contract names", () => {
    const contract = [
      "invalid_credentials",
      "rate_limited",
      "invalid_refresh_token",
      "refresh_token_reused",
      "session_expired",
      "username_taken",
      "weak_password",
      "invalid_request",
      "validation_failed",
      "missing_token",
      "invalid_token",
      "token_expired",
      "token_revoked",
      "csrf_failed",
      "insufficient_permissions",
      "not_found",
      "payload_too_large",
      "service_unavailable",
    ];
    for (const code of contract) {
      expect(isErrorCode(code), code).toBe(true);
    }
  });

  it("uses snake_case codes and plain sentences", () => {
    for (const code of ERROR_CODES) {
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(ERROR_REGISTRY[code].message).toMatch(/^[A-Z].*\.$/);
    }
  });
});

describe("SelloError", () => {
  it("carries code, status, reason and cause", () => {
    const cause = new Error("underlying");
    const error = new SelloError("token_expired", { reason: "expired", cause });
    expect(error.code).toBe("token_expired");
    expect(error.status).toBe(401);
    expect(error.reason).toBe("expired");
    expect(error.cause).toBe(cause);
    expect(error.message).toBe(ERROR_REGISTRY.token_expired.message);
    expect(error).toBeInstanceOf(Error);
    expect(isSelloError(error, "token_expired")).toBe(true);
    expect(isSelloError(error, "invalid_token")).toBe(false);
  });

  it("serialises to the HTTP error body", () => {
    const error = new SelloError("rate_limited", { message: "Try again in 30 seconds." });
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      error: "rate_limited",
      message: "Try again in 30 seconds.",
    });
  });

  it("rejects an unknown code with a TypeError", () => {
    expect(() => new SelloError("no_such_code" as never)).toThrow(TypeError);
  });

  it("maps codes to statuses", () => {
    expect(statusForCode("csrf_failed")).toBe(403);
    expect(statusForCode("service_unavailable")).toBe(503);
  });
});
