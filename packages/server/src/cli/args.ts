import { parseArgs } from "node:util";
import { SelloError } from "@sello/core";
import type { CliIo, Output } from "./output.js";

/** An option of a command, as `node:util` parseArgs takes it plus its help text. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** The placeholder shown in help for a string option's value, such as `<roles>`. */
  placeholder?: string;
  description: string;
}

/** A positional argument of a command. Every positional argument is required. */
export interface ArgumentSpec {
  name: string;
  description: string;
}

/** One command of the `sello` command line, such as `user add`. */
export interface CommandSpec {
  /** The words after `sello`, such as `["user", "add"]`. */
  name: readonly string[];
  summary: string;
  arguments: readonly ArgumentSpec[];
  options: Readonly<Record<string, OptionSpec>>;
  /** Paragraphs that `--help` prints after the options. */
  notes?: readonly string[];
  /**
   * The message for an extra positional argument, when the command needs one more specific than
   * "unexpected argument", such as the commands that read a password.
   */
  extraArgumentMessage?: string;
  run(invocation: Invocation): Promise<void>;
}

/** A parsed command line, handed to {@link CommandSpec.run}. */
export interface Invocation {
  command: CommandSpec;
  /** The positional arguments, in the order of {@link CommandSpec.arguments}. */
  args: readonly string[];
  /** The option values by name; absent options are undefined. */
  values: Readonly<Record<string, string | boolean | undefined>>;
  output: Output;
  io: CliIo;
}

/** The options every command accepts. */
export const COMMON_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  json: { type: "boolean", description: "Print the result as one JSON document on stdout." },
  help: { type: "boolean", short: "h", description: "Show this help and exit." },
};

// Options named like these are the usual way other tools take a password. Sello never does,
// because an argument is visible in the process list and in the shell history.
const PASSWORD_OPTION = /^-(-?)(p|pass|passwd|password|new-password)(=|$)/;

/** Returns the sentence that points to a command's `--help`. */
export function helpHint(name: readonly string[]): string {
  return `Run "sello ${[...name, "--help"].join(" ")}" for usage.`;
}

/** Creates the `invalid_request` error for a command line that cannot be run as typed. */
export function usageError(message: string, name: readonly string[] = []): SelloError {
  return new SelloError("invalid_request", {
    message: `${message} ${helpHint(name)}`,
    reason: "usage",
  });
}

/** The message for a password given on the command line. */
export const PASSWORD_ARGUMENT_MESSAGE =
  "Passwords are never accepted as command-line arguments, because the process list and the " +
  "shell history would show them. Type the password at the prompt, or pipe it and pass " +
  "--password-stdin.";

/**
 * Parses the arguments after the command words with `node:util` parseArgs in strict mode, and
 * checks the positional arguments against the command's specification. Throws an
 * `invalid_request` error that names the offending option or argument.
 */
export function parseCommandLine(
  command: CommandSpec,
  argv: readonly string[],
): { args: string[]; values: Record<string, string | boolean | undefined>; help: boolean } {
  const options = { ...command.options, ...COMMON_OPTIONS };
  rejectPasswordOptions(command, argv);

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(
        Object.entries(options).map(([name, spec]) => [
          name,
          { type: spec.type, ...(spec.short === undefined ? {} : { short: spec.short }) },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw describeParseError(error, command.name);
  }

  const values = parsed.values as Record<string, string | boolean | undefined>;
  const help = values.help === true;
  if (help) {
    return { args: parsed.positionals, values, help };
  }

  const expected = command.arguments;
  if (parsed.positionals.length < expected.length) {
    const missing = expected[parsed.positionals.length] as ArgumentSpec;
    throw usageError(`Missing the argument <${missing.name}>.`, command.name);
  }
  if (parsed.positionals.length > expected.length) {
    const extra = parsed.positionals[expected.length] as string;
    throw usageError(
      command.extraArgumentMessage ?? `Unexpected argument ${JSON.stringify(extra)}.`,
      command.name,
    );
  }
  return { args: parsed.positionals, values, help };
}

function rejectPasswordOptions(command: CommandSpec, argv: readonly string[]): void {
  for (const argument of argv) {
    if (argument === "--") {
      return;
    }
    if (PASSWORD_OPTION.test(argument) && !(argument.slice(2) in command.options)) {
      throw usageError(PASSWORD_ARGUMENT_MESSAGE, command.name);
    }
  }
}

function describeParseError(error: unknown, name: readonly string[]): SelloError {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  const option = /'([^']+)'/.exec(message)?.[1];

  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option !== undefined) {
    return usageError(`Unknown option ${option} for "sello ${name.join(" ")}".`, name);
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option !== undefined) {
    const flag = option.split(" ")[0] as string;
    return message.includes("argument missing")
      ? usageError(`The option ${flag} needs a value.`, name)
      : usageError(`The option ${flag} takes no value.`, name);
  }
  return usageError(message, name);
}

/**
 * Parses a comma-separated role list such as `admin,editor`. Spaces around names and empty
 * entries are ignored, and repeats are dropped, so an empty string means no roles.
 */
export function parseRoleList(text: string): string[] {
  const roles = text
    .split(",")
    .map((role) => role.trim())
    .filter((role) => role !== "");
  return [...new Set(roles)];
}

/** Parses a whole number from `min` to `max` given for `option`, or throws `validation_failed`. */
export function parseInteger(text: string, option: string, min: number, max: number): number {
  const value = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new SelloError("validation_failed", {
      message: `${option} must be a whole number from ${min} to ${max}; got ${JSON.stringify(text)}.`,
    });
  }
  return value;
}

/** Reads a string option's value; parseArgs guarantees the type for options declared as strings. */
export function stringOption(invocation: Invocation, name: string): string | undefined {
  const value = invocation.values[name];
  return typeof value === "string" ? value : undefined;
}

/** Reads a boolean option's value. */
export function flagOption(invocation: Invocation, name: string): boolean {
  return invocation.values[name] === true;
}
