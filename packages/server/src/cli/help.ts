import { COMMON_OPTIONS, type CommandSpec, type OptionSpec } from "./args.js";

/** The width that help text is wrapped to, in characters. */
const WRAP_WIDTH = 80;

const FOOTER = [
  "Every command accepts --json (one JSON document on stdout) and --help. sello --version " +
    "prints the version.",
  "Settings come from the SELLO_* environment variables that the server reads; see " +
    "docs/configuration.md. Commands other than serve work directly on the configured database.",
  "Exit codes: 0 success, 64 usage error, 65 invalid input, 66 user or session not found, 69 " +
    "database or port unavailable, 70 internal error, 77 token rejected, 78 invalid " +
    "configuration, 130 cancelled at a prompt. See docs/cli.md.",
];

/** Renders the help of `sello` itself: every command with its summary. */
export function renderOverview(commands: readonly CommandSpec[]): string {
  const rows = commands.map((command) => [usageLine(command, false), command.summary] as const);
  rows.push(["help [command]", "Show the help of a command."] as const);
  return [
    "Usage: sello <command> [options]",
    "",
    "Runs the Sello auth server, and manages its users, signing keys and tokens.",
    "",
    "Commands:",
    ...renderColumns(rows),
    "",
    ...FOOTER.flatMap((paragraph) => [...wrap(paragraph, WRAP_WIDTH), ""]),
  ]
    .join("\n")
    .trimEnd();
}

/** Renders the help of a command group such as `sello user`: its commands and summaries. */
export function renderGroup(group: string, commands: readonly CommandSpec[]): string {
  const members = commands.filter((command) => command.name[0] === group);
  const rows = members.map((command) => [usageLine(command, false), command.summary] as const);
  return [
    `Usage: sello ${group} <command> [options]`,
    "",
    "Commands:",
    ...renderColumns(rows),
    "",
    `Run "sello ${group} <command> --help" for the options of a command.`,
  ].join("\n");
}

/** Renders the help of one command: usage, arguments, options and notes. */
export function renderCommand(command: CommandSpec): string {
  const lines = [`Usage: ${usageLine(command, true)}`, "", command.summary];

  if (command.arguments.length > 0) {
    lines.push("", "Arguments:");
    lines.push(
      ...renderColumns(
        command.arguments.map((argument) => [`<${argument.name}>`, argument.description] as const),
      ),
    );
  }

  const options = { ...command.options, ...COMMON_OPTIONS };
  lines.push("", "Options:");
  lines.push(
    ...renderColumns(
      Object.entries(options).map(([name, spec]) => [optionLabel(name, spec), spec.description]),
    ),
  );

  for (const note of command.notes ?? []) {
    lines.push("", ...wrap(note, WRAP_WIDTH));
  }
  return lines.join("\n");
}

function usageLine(command: CommandSpec, withOptions: boolean): string {
  const words = ["sello", ...command.name, ...command.arguments.map((a) => `<${a.name}>`)];
  if (!withOptions) {
    return words.slice(1).join(" ");
  }
  return [...words, "[options]"].join(" ");
}

function optionLabel(name: string, spec: OptionSpec): string {
  const long = spec.placeholder === undefined ? `--${name}` : `--${name} ${spec.placeholder}`;
  return spec.short === undefined ? `    ${long}` : `-${spec.short}, ${long}`;
}

/** Renders label and text pairs as an indented two-column list, wrapping the text column. */
function renderColumns(rows: readonly (readonly [string, string])[]): string[] {
  const labelWidth = Math.max(...rows.map(([label]) => label.length));
  const indent = 2;
  const textWidth = Math.max(WRAP_WIDTH - indent - labelWidth - 2, 30);
  const lines: string[] = [];
  for (const [label, text] of rows) {
    const [first = "", ...rest] = wrap(text, textWidth);
    lines.push(`${" ".repeat(indent)}${label.padEnd(labelWidth)}  ${first}`);
    for (const line of rest) {
      lines.push(`${" ".repeat(indent + labelWidth + 2)}${line}`);
    }
  }
  return lines;
}

/** Wraps text at spaces into lines of at most `width` characters; longer words stay whole. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line === "") {
      line = word;
    } else if (line.length + 1 + word.length <= width) {
      line = `${line} ${word}`;
    } else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== "") {
    lines.push(line);
  }
  return lines;
}
