import type { CommandSpec } from "./args.js";
import { keyCommands } from "./keys.js";
import { revokeCommands } from "./revoke.js";
import { serverCommands } from "./serve.js";
import { tokenCommands } from "./tokens.js";
import { userCommands } from "./users.js";

/** Every `sello` command, in the order that `sello --help` lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  ...serverCommands,
  ...userCommands,
  ...keyCommands,
  ...tokenCommands,
  ...revokeCommands,
];

/** The first words of commands that have subcommands, such as `user`. */
export const COMMAND_GROUPS: ReadonlySet<string> = new Set(
  COMMANDS.filter((command) => command.name.length > 1).map((command) => command.name[0] as string),
);

/** Finds the command named by the leading words of `words`, or undefined. */
export function findCommand(words: readonly string[]): CommandSpec | undefined {
  return COMMANDS.find((command) => command.name.every((word, index) => words[index] === word));
}
