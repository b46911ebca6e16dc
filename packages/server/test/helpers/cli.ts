import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root, where `tsx` resolves. */
const REPOSITORY_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const CLI_ENTRY = fileURLToPath(new URL("./sello-cli.ts", import.meta.url));

/** How long a CLI run may take before its process is killed, in milliseconds. */
const RUN_TIMEOUT_MS = 20_000;
/** How long a `serve` process started by a test may live before it is killed, in milliseconds. */
const SERVE_TIMEOUT_MS = 60_000;

export interface CliResult {
  /** The exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A spawned CLI process with its collected output and its end. */
interface TrackedCli {
  child: ChildProcess;
  output(): { stdout: string; stderr: string };
  /** Resolves when the process has exited and its output streams have closed. */
  closed: Promise<CliResult>;
}

/**
 * Spawns `sello <args>` from the sources. The child's environment contains only PATH, HOME and
 * `env`, so SELLO_* variables of the test runner never leak into it. A child still running after
 * `timeoutMs` is killed by its pid.
 */
function spawnCli(args: string[], env: Record<string, string>, timeoutMs: number): TrackedCli {
  const child = spawn(
    process.execPath,
    ["--conditions=sello-source", "--import", "tsx", CLI_ENTRY, ...args],
    {
      cwd: REPOSITORY_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );

  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const output = () => ({ stdout, stderr });

  const closed = new Promise<CliResult>((resolve) => {
    child.once("close", (code, signal) => {
      resolve({ code, signal, ...output() });
    });
  });
  const watchdog = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  void closed.then(() => clearTimeout(watchdog));

  return { child, output, closed };
}

/** Runs `sello <args>` to its exit and returns the exit code and the output. */
export async function runCli(args: string[], env: Record<string, string>): Promise<CliResult> {
  return spawnCli(args, env, RUN_TIMEOUT_MS).closed;
}

export interface RunningCli {
  child: ChildProcess;
  /** The URL that `serve` printed. */
  url: string;
  output(): { stdout: string; stderr: string };
  /** Sends SIGTERM to the child's pid and waits for it to exit. */
  stop(): Promise<CliResult>;
  /** Sends SIGKILL to the child's pid and waits for it to exit. */
  kill(): Promise<CliResult>;
}

/** Starts `sello serve` and resolves once it prints the URL it listens on. */
export async function startCli(env: Record<string, string>): Promise<RunningCli> {
  const { child, output, closed } = spawnCli(["serve"], env, SERVE_TIMEOUT_MS);

  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const match = /listening on (\S+)/.exec(output().stdout);
      if (match !== null) {
        child.stdout?.off("data", onData);
        resolve(match[1] as string);
      }
    };
    child.stdout?.on("data", onData);
    void closed.then((result) => {
      reject(
        new Error(`sello serve exited (code ${result.code}) before listening:\n${result.stderr}`),
      );
    });
  });

  const endWith = async (signal: NodeJS.Signals): Promise<CliResult> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
    }
    return closed;
  };
  return { child, url, output, stop: () => endWith("SIGTERM"), kill: () => endWith("SIGKILL") };
}
