import { SelloError } from "@sello/core";

/** Error codes that mean a folder or a database file cannot be created, opened or written. */
const UNWRITABLE_CODES = new Set([
  "EACCES",
  "EPERM",
  "EROFS",
  "ENOTDIR",
  "SQLITE_CANTOPEN",
  "SQLITE_READONLY",
]);

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/**
 * Describes why a data folder cannot be used, when `error` (or its cause) is a permission or
 * path error, or returns undefined for any other error.
 */
export function describeDataFolderProblem(error: unknown, folder: string): string | undefined {
  const code = errorCode(error) ?? errorCode((error as { cause?: unknown } | null)?.cause);
  if (code === undefined || !UNWRITABLE_CODES.has(code)) {
    return undefined;
  }
  return `the data folder ${folder} cannot be created or written (${code}). Fix its permissions or set SELLO_DATA_DIR to a writable folder.`;
}

/** Converts a failure to listen into a `service_unavailable` error naming the address and the fix. */
export function listenError(error: unknown, address: { host: string; port: number }): SelloError {
  if (errorCode(error) === "EADDRINUSE") {
    return new SelloError("service_unavailable", {
      message: `port ${address.port} on ${address.host} is already in use. Stop the other process or set SELLO_PORT to a free port.`,
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SelloError("service_unavailable", {
    message: `cannot listen on ${address.host}:${address.port}: ${message}`,
    cause: error,
  });
}
