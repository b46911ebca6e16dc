import { exitCodeForCode, type SelloError } from "@sello/core";

/** The streams and settings one run of the `sello` command line uses. */
export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/**
 * Writes a command's results and messages. Results go to stdout: aligned plain text, or one JSON
 * document in JSON mode. Notes, warnings and errors go to stderr in both modes, so stdout stays
 * machine-readable.
 */
export class Output {
  readonly json: boolean;
  readonly #io: CliIo;

  constructor(io: CliIo, json: boolean) {
    this.#io = io;
    this.json = json;
  }

  /** Writes the result of a command: `data` as JSON in JSON mode, otherwise `text`. */
  result(data: unknown, text: string | readonly string[]): void {
    if (this.json) {
      this.#io.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      return;
    }
    const lines = typeof text === "string" ? [text] : text;
    if (lines.length > 0) {
      this.#io.stdout.write(`${lines.join("\n")}\n`);
    }
  }

  /** Writes a line to stdout in both modes, for output that is the same for people and scripts. */
  raw(text: string): void {
    this.#io.stdout.write(`${text}\n`);
  }

  /** Writes an informational note or a warning to stderr. */
  note(text: string): void {
    this.#io.stderr.write(`${text}\n`);
  }

  /**
   * Reports a failure and returns the exit code from the error registry. The message goes to
   * stderr; in JSON mode stdout also gets `{"error", "message", "reason"?}`.
   */
  failure(error: SelloError): number {
    this.#io.stderr.write(`sello: ${error.message}\n`);
    if (this.json) {
      const body = {
        error: error.code,
        message: error.message,
        ...(error.reason === undefined ? {} : { reason: error.reason }),
      };
      this.#io.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    }
    return exitCodeForCode(error.code);
  }
}

/**
 * Formats rows as columns separated by two spaces, each as wide as its widest cell, under a
 * header row. The last column is not padded.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]) {
  const all = [header, ...rows];
  const widths = header.map((_, column) =>
    Math.max(...all.map((row) => (row[column] ?? "").length)),
  );
  return all.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join("  ")
      .trimEnd(),
  );
}

/** Formats label and value pairs as two aligned columns, such as `username  alice`. */
export function formatFields(fields: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...fields.map(([label]) => label.length));
  return fields.map(([label, value]) => `${label.padEnd(width)}  ${value}`);
}

/** Formats milliseconds since the epoch as ISO 8601 UTC to the second, such as `2025-01-31T09:00:00Z`. */
export function formatTime(time: number): string {
  return new Date(time).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Formats `count` and a noun, adding an "s" unless the count is 1: `1 session`, `2 sessions`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
