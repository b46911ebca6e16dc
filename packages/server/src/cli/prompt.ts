import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { SelloError } from "@sello/core";
import { usageError } from "./args.js";
import type { CliIo } from "./output.js";

/** The maximum number of bytes read from stdin for a password or a token. */
const MAX_STDIN_BYTES = 64 * 1024;

/** Thrown when the user ends a prompt with Ctrl-C. The command line then exits with 130. */
export class PromptCancelledError extends Error {
  override readonly name = "PromptCancelledError";

  constructor() {
    super("Cancelled at the password prompt; nothing was changed.");
  }
}

export interface NewPasswordOptions {
  /** Read the password from stdin (`--password-stdin`) instead of prompting. */
  fromStdin: boolean;
  /** Whose password it is, for the prompt text. */
  username: string;
  /** The command words, for the usage hint of an error. */
  command: readonly string[];
  /**
   * Throws when the password breaks the password policy. It runs before the prompt requests the
   * password again, so that a rejected password need not be typed twice.
   */
  validate(password: string): void;
}

/**
 * Reads a new password: from stdin when `fromStdin` is set, otherwise from a prompt on the
 * terminal that does not echo what is typed and requests it twice. Throws `invalid_request` when no
 * source is usable and `validation_failed` for an empty, multi-line or mismatched password.
 */
export async function readNewPassword(io: CliIo, options: NewPasswordOptions): Promise<string> {
  if (options.fromStdin) {
    if (io.stdin.isTTY === true) {
      throw usageError(
        "--password-stdin reads a piped password, but stdin is a terminal, where the password " +
          "would be shown as it is typed. Leave out --password-stdin to get a prompt that hides it.",
        options.command,
      );
    }
    const password = await readPasswordFromStdin(io);
    options.validate(password);
    return password;
  }

  if (io.stdin.isTTY !== true) {
    throw usageError(
      "stdin is not a terminal, so sello cannot prompt for the password. Pipe the password and " +
        "pass --password-stdin.",
      options.command,
    );
  }

  const password = await promptHidden(io, `New password for ${options.username}: `);
  if (password === "") {
    throw new SelloError("validation_failed", {
      message: "No password was entered; nothing was changed.",
    });
  }
  options.validate(password);
  const repeated = await promptHidden(io, "Repeat the password: ");
  if (repeated !== password) {
    throw new SelloError("validation_failed", {
      message: "The two passwords do not match; nothing was changed. Run the command again.",
    });
  }
  return password;
}

async function readPasswordFromStdin(io: CliIo): Promise<string> {
  const password = (await readStdin(io, "password")).replace(/\r?\n$/, "");
  if (password === "") {
    throw new SelloError("validation_failed", {
      message:
        "stdin was empty, so there is no password. Pipe it in, as in: " +
        "printf '%s\\n' \"$PASSWORD\" | sello user add alice --password-stdin",
    });
  }
  if (/[\r\n]/.test(password)) {
    throw new SelloError("validation_failed", {
      message: "The password read from stdin has more than one line. Pipe exactly one line.",
    });
  }
  return password;
}

/** Reads stdin to its end as UTF-8, at most 64 KiB. `inputName` names the input in the error. */
export async function readStdin(io: CliIo, inputName: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : (chunk as Buffer);
    size += buffer.length;
    if (size > MAX_STDIN_BYTES) {
      throw new SelloError("validation_failed", {
        message: `The ${inputName} read from stdin is longer than ${MAX_STDIN_BYTES} bytes.`,
      });
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Asks `question` on stderr and reads one line from the terminal without echoing it. readline
 * puts the terminal in raw mode, so the terminal does not echo, and its own echo goes to an
 * output that drops everything after the question.
 */
async function promptHidden(io: CliIo, question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, callback) {
      if (!muted) {
        io.stderr.write(chunk);
      }
      callback();
    },
  });
  const readline = createInterface({ input: io.stdin, output, terminal: true });

  try {
    return await new Promise<string>((resolve, reject) => {
      let answered = false;
      readline.once("SIGINT", () => reject(new PromptCancelledError()));
      readline.once("close", () => {
        if (!answered) {
          reject(
            new SelloError("validation_failed", {
              message: "The input ended before a password was entered; nothing was changed.",
            }),
          );
        }
      });
      readline.question(question, (answer) => {
        answered = true;
        resolve(answer);
      });
      muted = true;
    });
  } finally {
    readline.close();
    io.stderr.write("\n");
  }
}
