import { existsSync } from "node:fs";
import { type ErrorCode, SelloError } from "@sello/core";
import type { ServerConfig } from "../config/index.js";
import { describeDataFolderProblem, listenError } from "../start-errors.js";
import type { CommandSpec, Invocation } from "./args.js";
import { describeDatabase, loadCliConfig, withContext } from "./context.js";

/** The `sello serve` and `sello migrate` commands. */
export const serverCommands: CommandSpec[] = [
  {
    name: ["serve"],
    summary: "Start the auth server (the default when no command is given).",
    arguments: [],
    options: {},
    notes: [
      "The server runs until it gets SIGINT (Ctrl-C) or SIGTERM. With --json, stdout gets one " +
        "JSON document with the URL once the server listens, and the logs go to stderr.",
    ],
    run: serve,
  },
  {
    name: ["migrate"],
    summary: "Create the database, or bring its schema up to date.",
    arguments: [],
    options: {},
    notes: [
      "The server also migrates at start; run this before other commands on a new data folder, " +
        "or to upgrade the schema before starting the server.",
    ],
    run: migrate,
  },
];

async function serve(invocation: Invocation): Promise<void> {
  const { io, output } = invocation;
  const config = await loadCliConfig(io, { printWarnings: false });
  const { createSelloServer } = await import("../server.js");

  let server: Awaited<ReturnType<typeof createSelloServer>>;
  try {
    // In JSON mode stdout carries the one result document, so the logs move to stderr.
    server = await createSelloServer({
      config,
      ...(output.json ? { logStream: io.stderr } : {}),
    });
  } catch (error) {
    throw startError(error, config);
  }

  for (const warning of config.warnings) {
    server.app.log.warn(warning);
  }

  let url: string;
  try {
    url = await server.listen();
  } catch (error) {
    await server.close();
    throw listenError(error, config);
  }

  server.app.log.info(
    { url, publicUrl: config.publicUrl, mode: config.mode },
    "Sello is listening",
  );
  output.result(
    { url, publicUrl: config.publicUrl, mode: config.mode },
    `Sello ${config.mode} server listening on ${url} (public URL ${config.publicUrl})`,
  );

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await server.close();
}

async function migrate(invocation: Invocation): Promise<void> {
  const config = await loadCliConfig(invocation.io);
  const isNewFile =
    config.database.driver === "sqlite" &&
    config.database.filename !== ":memory:" &&
    !existsSync(config.database.filename);

  // Opening the context runs the migrations; there is nothing else to do.
  await withContext(invocation.io, async () => undefined, {
    createDatabase: true,
    printWarnings: false,
  });

  const database = await describeDatabase(config);
  invocation.output.result(
    { database, created: isNewFile },
    isNewFile
      ? `Created the database ${database} with the latest schema.`
      : `The database ${database} has the latest schema.`,
  );
}

function startError(error: unknown, config: ServerConfig): SelloError {
  const problem = describeDataFolderProblem(error, config.dataDir);
  if (problem !== undefined) {
    return new SelloError("service_unavailable", {
      message: `cannot start: ${problem}`,
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SelloError(startErrorCode(error), {
    message: `cannot start: ${message}`,
    cause: error,
  });
}

/**
 * Classifies a start failure. The server's parts check their options when they are built and
 * throw a TypeError for an invalid one, such as a weak HS256 secret, and every option comes from
 * the configuration.
 */
function startErrorCode(error: unknown): ErrorCode {
  if (error instanceof SelloError) {
    return error.code;
  }
  return error instanceof TypeError ? "invalid_configuration" : "internal_error";
}
