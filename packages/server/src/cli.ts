import { createRequire } from "node:module";
import { SelloError } from "@sello/core";
import { type CommandSpec, parseCommandLine, usageError } from "./cli/args.js";
import { COMMAND_GROUPS, COMMANDS, findCommand } from "./cli/commands.js";
import { renderCommand, renderGroup, renderOverview } from "./cli/help.js";
import { type CliIo, Output } from "./cli/output.js";
import { PromptCancelledError } from "./cli/prompt.js";

/** The exit status after Ctrl-C at a password prompt: 128 plus SIGINT (2), as shells report it. */
const EXIT_CANCELLED = 130;

/**
 * Runs the `sello` command line and resolves with the process exit code: 0 on success, the
 * registry's exit code of the error otherwise (see `exitCodeForCode`), or 130 after Ctrl-C at a
 * password prompt. Without a command it starts the server.
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const output = new Output(io, wantsJson(argv));
  try {
    await dispatch(argv, io, output);
    return 0;
  } catch (error) {
    if (error instanceof PromptCancelledError) {
      io.stderr.write(`sello: ${error.message}\n`);
      return EXIT_CANCELLED;
    }
    return output.failure(toSelloError(error));
  }
}

/** Reads the version of @sello/server, which is one folder up from both src/ and dist/. */
function packageVersion(): string {
  const manifest = createRequire(import.meta.url)("../package.json") as { version: string };
  return manifest.version;
}

function processIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
}

async function dispatch(argv: readonly string[], io: CliIo, output: Output): Promise<void> {
  const first = argv[0];
  if (first === "-h" || first === "--help") {
    output.raw(renderOverview(COMMANDS));
    return;
  }
  if (first === "help") {
    output.raw(renderHelpFor(argv.slice(1)));
    return;
  }
  if (first === "--version" || first === "-V") {
    output.raw(`sello ${packageVersion()}`);
    return;
  }

  const words = leadingWords(argv);
  if (words.length === 0) {
    // `sello` alone, or followed by options only, starts the server.
    await runCommand(findCommand(["serve"]) as CommandSpec, argv, io, output);
    return;
  }

  const command = findCommand(words);
  if (command !== undefined) {
    await runCommand(command, argv.slice(command.name.length), io, output);
    return;
  }

  const group = words[0] as string;
  if (!COMMAND_GROUPS.has(group)) {
    throw usageError(`Unknown command "${group}".`);
  }
  if (words.length > 1) {
    throw usageError(`Unknown command "sello ${group} ${words[1]}".`, [group]);
  }
  if (argv.includes("--help") || argv.includes("-h")) {
    output.raw(renderGroup(group, COMMANDS));
    return;
  }
  const names = COMMANDS.filter((spec) => spec.name[0] === group).map((spec) => spec.name[1]);
  throw usageError(`"sello ${group}" needs a command: ${names.join(", ")}.`, [group]);
}

async function runCommand(
  command: CommandSpec,
  argv: readonly string[],
  io: CliIo,
  output: Output,
): Promise<void> {
  const { args, values, help } = parseCommandLine(command, argv);
  if (help) {
    output.raw(renderCommand(command));
    return;
  }
  await command.run({ command, args, values, output, io });
}

/** Renders `sello help [words…]`. */
function renderHelpFor(words: readonly string[]): string {
  if (words.length === 0) {
    return renderOverview(COMMANDS);
  }
  const command = findCommand(words);
  if (command !== undefined && command.name.length === words.length) {
    return renderCommand(command);
  }
  const group = words[0] as string;
  if (words.length === 1 && COMMAND_GROUPS.has(group)) {
    return renderGroup(group, COMMANDS);
  }
  throw usageError(`There is no command "sello ${words.join(" ")}".`);
}

/** Returns the words before the first option: the command name, then its first arguments. */
function leadingWords(argv: readonly string[]): string[] {
  const words: string[] = [];
  for (const argument of argv) {
    if (argument.startsWith("-")) {
      break;
    }
    words.push(argument);
  }
  return words;
}

/** Reports whether `--json` comes before any `--` that ends the options. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).includes("--json");
}

function toSelloError(error: unknown): SelloError {
  if (error instanceof SelloError) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SelloError("internal_error", {
    message: `Unexpected error: ${message}`,
    cause: error,
  });
}
