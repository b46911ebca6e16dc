import { ConfigError, loadConfig } from "./config/index.js";
import { createSelloServer } from "./server.js";

const USAGE = `Usage: sello <command>

Commands:
  serve     Start the auth server (the default).
  help      Show this text.

Settings come from SELLO_* environment variables; see docs/configuration.md.`;

/** Runs the `sello` command line and resolves with the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const command = argv[0] ?? "serve";
  switch (command) {
    case "serve":
      return serve();
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      process.stderr.write(`sello: unknown command "${command}".\n\n${USAGE}\n`);
      return 2;
  }
}

async function serve(): Promise<number> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`sello: ${error.message}\n`);
      return 78;
    }
    throw error;
  }

  let server: Awaited<ReturnType<typeof createSelloServer>>;
  try {
    server = await createSelloServer({ config });
  } catch (error) {
    process.stderr.write(`sello: cannot start: ${describeStartError(error, config.dataDir)}\n`);
    return 1;
  }

  for (const warning of config.warnings) {
    server.app.log.warn(warning);
  }

  let url: string;
  try {
    url = await server.listen();
  } catch (error) {
    await server.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") {
      process.stderr.write(
        `sello: port ${config.port} on ${config.host} is already in use. Stop the other process or set SELLO_PORT to a free port.\n`,
      );
      return 1;
    }
    process.stderr.write(
      `sello: cannot listen on ${config.host}:${config.port}: ${(error as Error).message}\n`,
    );
    return 1;
  }

  server.app.log.info(
    { url, publicUrl: config.publicUrl, mode: config.mode },
    "Sello is listening",
  );
  process.stdout.write(
    `Sello ${config.mode} server listening on ${url} (public URL ${config.publicUrl})\n`,
  );

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await server.close();
  return 0;
}

function describeStartError(error: unknown, dataDir: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (
    code === "EACCES" ||
    code === "EPERM" ||
    code === "EROFS" ||
    code === "SQLITE_CANTOPEN" ||
    code === "SQLITE_READONLY"
  ) {
    return `the data folder ${dataDir} is not writable. Fix its permissions or set SELLO_DATA_DIR to a writable folder.`;
  }
  return error instanceof Error ? error.message : String(error);
}
