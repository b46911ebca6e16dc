import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  ERROR_CODES,
  ERROR_REGISTRY,
  exitCodeForCode,
  isErrorCode,
  isSelloError,
  SelloError,
  statusForCode,
} from "../src/errors.js";

const docsPath = new URL("../../../docs/errors.md", import.meta.url);

/** One row of the table in docs/errors.md. */
interface DocumentedCode {
  status: number;
  exitCode: number;
}

/** Reads the code table of docs/errors.md, whose cells may be padded with spaces. */
function readDocumentedCodes(): Map<string, DocumentedCode> {
  const lines = readFileSync(docsPath, "utf8").split("\n");
  const headerLine = lines.find((line) => line.startsWith("| code "));
  if (headerLine === undefined) {
    throw new Error("docs/errors.md has no table whose first column is `code`.");
  }
  const header = splitRow(headerLine);
  const statusColumn = header.indexOf("status");
  const exitColumn = header.indexOf("exit code");

  const rows = new Map<string, DocumentedCode>();
  for (const line of lines) {
    const cells = splitRow(line);
    const code = /^`([a-z_]+)`$/.exec(cells[0] ?? "")?.[1];
    if (code !== undefined) {
      rows.set(code, {
        status: Number(cells[statusColumn]),
        exitCode: Number(cells[exitColumn]),
      });
    }
  }
  return rows;
}

function splitRow(line: string): string[] {
  if (!line.startsWith("|")) {
    return [];
  }
  return line
    .slice(1, line.lastIndexOf("|"))
    .split("|")
    .map((cell) => cell.trim());
}

describe("error registry", () => {
  it("matches docs/errors.md code for code", () => {
    const documented = readDocumentedCodes();
    expect([...documented.keys()].sort()).toEqual([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) {
      expect(documented.get(code)?.status, code).toBe(ERROR_REGISTRY[code].status);
    }
  });

  it("documents each exit code in docs/errors.md", () => {
    const documented = readDocumentedCodes();
    for (const code of ERROR_CODES) {
      expect(documented.get(code)?.exitCode, code).toBe(ERROR_REGISTRY[code].exitCode);
    }
  });

  it("uses sysexits.h values as exit codes", () => {
    const sysexits = new Set([64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78]);
    for (const code of ERROR_CODES) {
      expect(sysexits.has(ERROR_REGISTRY[code].exitCode), code).toBe(true);
    }
  });

  it("gives one exit code per kind of failure", () => {
    const expected: Record<number, string[]> = {
      64: ["invalid_request"],
      65: [
        "validation_failed",
        "weak_password",
        "username_taken",
        "payload_too_large",
        "unsupported_media_type",
      ],
      66: ["not_found"],
      69: ["service_unavailable"],
      70: ["internal_error"],
      75: ["rate_limited"],
      77: [
        "invalid_credentials",
        "missing_token",
        "invalid_token",
        "token_expired",
        "token_revoked",
        "invalid_refresh_token",
        "refresh_token_reused",
        "session_expired",
        "csrf_failed",
        "insufficient_permissions",
      ],
      78: ["invalid_configuration"],
    };
    const actual: Record<number, string[]> = {};
    for (const code of ERROR_CODES) {
      const exitCode = ERROR_REGISTRY[code].exitCode;
      actual[exitCode] = [...(actual[exitCode] ?? []), code];
    }
    for (const codes of Object.values(actual)) {
      codes.sort();
    }
    for (const codes of Object.values(expected)) {
      codes.sort();
    }
    expect(actual).toEqual(expected);
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

  it("maps codes to exit codes", () => {
    expect(exitCodeForCode("invalid_request")).toBe(64);
    expect(exitCodeForCode("weak_password")).toBe(65);
    expect(exitCodeForCode("not_found")).toBe(66);
    expect(exitCodeForCode("service_unavailable")).toBe(69);
    expect(exitCodeForCode("internal_error")).toBe(70);
    expect(exitCodeForCode("invalid_token")).toBe(77);
    expect(exitCodeForCode("invalid_configuration")).toBe(78);
  });
});
