import { exitCodeForCode, SelloError } from "@sello/core";
import { type RunningDemo, type StartDemoOptions, startDemo } from "./start.js";

/** The streams and settings of one run of the demo. */
export interface DemoIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Resolves when the demo should stop. Default: at SIGINT (Ctrl-C) or SIGTERM. */
  stopSignal?: Promise<void>;
}

/**
 * Starts the demo with the settings in `io.env` and runs it until SIGINT or SIGTERM (or
 * `io.stopSignal`). Resolves with the process exit code: 0 after a clean stop. When the demo
 * cannot start, it prints `sello-demo: <message>` on stderr and resolves with the registry's
 * exit code of the error, such as 69 for a port in use and 78 for invalid settings.
 */
export async function runDemo(
  io: DemoIo = processIo(),
  options: Omit<StartDemoOptions, "env" | "print"> = {},
): Promise<number> {
  let demo: RunningDemo;
  try {
    demo = await startDemo({
      ...options,
      env: io.env,
      print: (line) => io.stdout.write(`${line}\n`),
    });
  } catch (error) {
    const failure = toSelloError(error);
    io.stderr.write(`sello-demo: ${failure.message}\n`);
    return exitCodeForCode(failure.code);
  }

  await (io.stopSignal ?? waitForStopSignal());
  await demo.close();
  io.stdout.write("Sello demo stopped.\n");
  return 0;
}

function processIo(): DemoIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env };
}

function waitForStopSignal(): Promise<void> {
  return new Promise((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
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
