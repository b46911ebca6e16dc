import { SelloError } from "@sello/core";
import {
  ConfigError,
  createSelloServer,
  describeDataFolderProblem,
  listenError,
  loadConfig,
  type SelloServer,
  type ServerConfig,
} from "@sello/server";
import { addDemo } from "./demo.js";
import { createDemoUsers, type DemoUsersResult } from "./demo-users.js";
import type { NotesStore } from "./notes-store.js";

export interface StartDemoOptions {
  /** The SELLO_* settings. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** The folder that relative paths such as `var` start from. Default: `process.cwd()`. */
  cwd?: string;
  /** The source of `sello.global.js`. Default: the built `@sello/client` script. */
  clientScript?: string | Buffer;
  /** Milliseconds since the epoch, for the server and the notes. Default `Date.now`. */
  clock?: () => number;
  /** Destination of the server's JSON logs. Default: standard output. */
  logStream?: NodeJS.WritableStream;
  /** Writes one line of the start-up summary. Default: standard output. */
  print?: (line: string) => void;
}

/** A demo that listens. */
export interface RunningDemo {
  server: SelloServer;
  notes: NotesStore;
  /** The address the server is bound to, such as `http://127.0.0.1:3000`. */
  url: string;
  /** The URL to open in a browser: the server's public URL, whose origin the cookies need. */
  publicUrl: string;
  /** The demo accounts, or undefined when the configuration creates none. */
  demoUsers: DemoUsersResult | undefined;
  close(): Promise<void>;
}

/**
 * Loads the settings, creates the auth server, adds the demo, creates the demo users when the
 * configuration allows them, listens, and prints the URL, the mode and the demo accounts.
 * Throws a SelloError whose message names the fix: `invalid_configuration` for bad settings,
 * `service_unavailable` for a port in use, a data folder that cannot be written, or a missing
 * client build.
 */
export async function startDemo(options: StartDemoOptions = {}): Promise<RunningDemo> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const config = loadDemoConfig(options.env ?? process.env, options.cwd);

  let server: SelloServer;
  try {
    server = await createSelloServer({
      config,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.logStream === undefined ? {} : { logStream: options.logStream }),
    });
  } catch (error) {
    throw startError(error, config);
  }
  for (const warning of config.warnings) {
    server.app.log.warn(warning);
  }

  let notes: NotesStore;
  let demoUsers: DemoUsersResult | undefined;
  try {
    ({ notes } = await addDemo(server, {
      ...(options.clientScript === undefined ? {} : { clientScript: options.clientScript }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    }));
    demoUsers = config.createDemoUsers ? await createDemoUsers(server) : undefined;
  } catch (error) {
    await server.close();
    throw startError(error, config);
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
    "Sello demo is listening",
  );
  for (const line of describeStart(config, url, demoUsers)) {
    print(line);
  }

  return {
    server,
    notes,
    url,
    publicUrl: config.publicUrl,
    demoUsers,
    close: () => server.close(),
  };
}

function loadDemoConfig(env: NodeJS.ProcessEnv, cwd: string | undefined): ServerConfig {
  try {
    return loadConfig(env, cwd === undefined ? {} : { cwd });
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new SelloError("invalid_configuration", { message: error.message, cause: error });
    }
    throw error;
  }
}

/**
 * Returns the lines of the start-up summary. They contain the demo passwords, which are public
 * (see DEMO_USERS), and no other password or token.
 */
export function describeStart(
  config: ServerConfig,
  url: string,
  demoUsers: DemoUsersResult | undefined,
): string[] {
  const lines = [
    `Sello demo in ${config.mode} mode, listening on ${url}`,
    `Open ${config.publicUrl} in a browser.`,
  ];

  if (demoUsers === undefined) {
    lines.push(noDemoUsersReason(config));
    return lines;
  }

  const reason =
    config.demoUsers === "on"
      ? "SELLO_DEMO_USERS is on, so anyone who reaches this address can log in with them"
      : "they exist only in development mode on a loopback address";
  lines.push(`Demo users with public passwords (${reason}):`);
  const created = new Set(demoUsers.created.map((user) => user.username));
  for (const user of [...demoUsers.created, ...demoUsers.existing]) {
    // An existing account may have another password: SELLO_ADMIN_USERNAME, or a change since.
    const state = created.has(user.username) ? "created now" : "already existed, left unchanged";
    const columns = [
      user.username.padEnd(8),
      `password ${user.password.padEnd(20)}`,
      `role ${user.role.padEnd(8)}`,
      `(${state})`,
    ];
    lines.push(`  ${columns.join("")}`);
  }
  return lines;
}

function noDemoUsersReason(config: ServerConfig): string {
  if (config.mode === "production") {
    return (
      "No demo users in production mode. The first administrator comes from " +
      "SELLO_ADMIN_USERNAME and SELLO_ADMIN_PASSWORD."
    );
  }
  if (config.demoUsers === "off") {
    return "No demo users: SELLO_DEMO_USERS is off.";
  }
  return (
    `No demo users: ${config.host} is not a loopback address. Set SELLO_DEMO_USERS=on to ` +
    "create them anyway; their passwords are public."
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
  return new SelloError(error instanceof SelloError ? error.code : "internal_error", {
    message: `cannot start: ${message}`,
    cause: error,
  });
}
