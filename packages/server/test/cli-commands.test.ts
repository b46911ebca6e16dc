import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ERROR_CODES, ERROR_REGISTRY } from "@sello/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/index.js";
import { createSelloServer, type SelloServer } from "../src/server.js";

/** The repository root, where `tsx` resolves. */
const REPOSITORY_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** Runs `main` from the TypeScript sources as bin/sello.js runs it from the build. */
const CLI_ENTRY = fileURLToPath(new URL("./helpers/sello-cli.ts", import.meta.url));
const CLI_COMMAND = [
  process.execPath,
  "--conditions=sello-source",
  "--import",
  "tsx",
  CLI_ENTRY,
] as const;
/**
 * How long one CLI run may take before the test kills it by its pid, in milliseconds. A run
 * takes about a second on an idle 2-core machine; the margin covers a machine busy with other
 * builds and tests.
 */
const RUN_TIMEOUT_MS = 60_000;
/** How many CLI processes the tests run at the same time. */
const MAX_PARALLEL_RUNS = 3;
/** The timeout of each test, in milliseconds; most tests run several CLI processes one by one. */
const TEST_TIMEOUT_MS = 180_000;

const PASSWORD = "correct horse battery staple";
const OTHER_PASSWORD = "a different long passphrase";

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  /** Written to stdin, which is then closed. Default: stdin is closed at once. */
  input?: string;
  /** Settings added to or replacing the test's SELLO_* variables. */
  env?: Record<string, string>;
}

/**
 * Runs `sello <args>` as a child process with stdin as a pipe (not a terminal). The child gets
 * only PATH, HOME and the given variables, so the runner's own SELLO_* variables never leak in.
 */
async function runSello(
  args: readonly string[],
  env: Record<string, string>,
  options: RunOptions = {},
): Promise<RunResult> {
  return withRunSlot(() => {
    const [command, ...prefix] = CLI_COMMAND;
    const child = spawn(command, [...prefix, ...args], {
      cwd: REPOSITORY_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.stdin?.end(options.input ?? "");
    return collect(child);
  });
}

let activeRuns = 0;
const waitingRuns: (() => void)[] = [];

/** Runs `start` once fewer than MAX_PARALLEL_RUNS CLI processes are running. */
async function withRunSlot<T>(start: () => Promise<T>): Promise<T> {
  if (activeRuns >= MAX_PARALLEL_RUNS) {
    await new Promise<void>((resolve) => waitingRuns.push(resolve));
  }
  activeRuns += 1;
  try {
    return await start();
  } finally {
    activeRuns -= 1;
    waitingRuns.shift()?.();
  }
}

/** Collects a child's output until it exits, killing it by its pid after RUN_TIMEOUT_MS. */
function collect(child: ChildProcess): Promise<RunResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  child.stdin?.on("error", () => {
    // The CLI may exit before reading stdin, for example on a usage error.
  });

  const watchdog = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.once("close", (code) => {
      clearTimeout(watchdog);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Parses stdout as exactly one JSON document. */
function parseJson<T = Record<string, unknown>>(result: RunResult): T {
  return JSON.parse(result.stdout) as T;
}

/** A temporary data folder with its SELLO_* settings. */
interface DataFolder {
  dir: string;
  env: Record<string, string>;
}

async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", resolve);
  });
  const address = probe.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

async function createDataFolder(extra: Record<string, string> = {}): Promise<DataFolder> {
  const dir = mkdtempSync(join(tmpdir(), "sello-cli-"));
  const port = await freePort();
  return {
    dir,
    env: {
      SELLO_DATA_DIR: dir,
      SELLO_HOST: "127.0.0.1",
      SELLO_PORT: String(port),
      SELLO_PUBLIC_URL: `http://localhost:${port}`,
      SELLO_LOG_LEVEL: "silent",
      SELLO_DEMO_USERS: "off",
      ...extra,
    },
  };
}

/** Adds a user through the CLI with the password on stdin, and checks that it worked. */
async function addUser(folder: DataFolder, username: string, roles?: string): Promise<void> {
  const args = ["user", "add", username, "--password-stdin"];
  if (roles !== undefined) {
    args.push("--roles", roles);
  }
  const result = await runSello(args, folder.env, { input: `${PASSWORD}\n` });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
}

// A real server on the shared data folder, to check that CLI changes reach logins and sessions.

interface RunningServer {
  server: SelloServer;
  url: string;
}

async function startServer(folder: DataFolder): Promise<RunningServer> {
  const config = loadConfig(folder.env, { cwd: folder.dir });
  const server = await createSelloServer({ config });
  return { server, url: await server.listen() };
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Logs in with the refresh token in the body; returns the status and both tokens. */
async function login(running: RunningServer, username: string, password: string) {
  const response = await postJson(`${running.url}/auth/login`, {
    username,
    password,
    refresh_token_delivery: "body",
  });
  return {
    status: response.status,
    error: response.body.error,
    accessToken: response.body.access_token as string,
    refreshToken: response.body.refresh_token as string,
  };
}

async function refresh(running: RunningServer, refreshToken: string) {
  return postJson(`${running.url}/auth/refresh`, { refresh_token: refreshToken });
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
}

const folders: DataFolder[] = [];
let shared: DataFolder;
let running: RunningServer;

beforeAll(async () => {
  shared = await createDataFolder();
  folders.push(shared);
  const migrated = await runSello(["migrate"], shared.env);
  expect(migrated.code).toBe(0);
  running = await startServer(shared);
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  await running?.server.close();
  for (const folder of folders) {
    rmSync(folder.dir, { recursive: true, force: true });
  }
});

async function ownFolder(extra: Record<string, string> = {}): Promise<DataFolder> {
  const folder = await createDataFolder(extra);
  folders.push(folder);
  return folder;
}

const ALL_COMMANDS = [
  ["serve"],
  ["migrate"],
  ["user", "add"],
  ["user", "list"],
  ["user", "sessions"],
  ["user", "set-roles"],
  ["user", "disable"],
  ["user", "enable"],
  ["user", "reset-password"],
  ["keys", "list"],
  ["keys", "rotate"],
  ["keys", "export-jwks"],
  ["token", "decode"],
  ["token", "verify"],
  ["token", "issue"],
  ["revoke"],
];

describe.concurrent("sello help", { timeout: TEST_TIMEOUT_MS }, () => {
  it("prints its version", async ({ expect }) => {
    const manifest = JSON.parse(
      readFileSync(new URL("../package.json", import.meta.url), "utf8"),
    ) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const result = await runSello([flag], {});
      expect(result.code, flag).toBe(0);
      expect(result.stderr, flag).toBe("");
      expect(result.stdout.trim(), flag).toBe(`sello ${manifest.version}`);
    }
  });

  it("lists every command", async ({ expect }) => {
    const result = await runSello(["--help"], {});
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    for (const command of ALL_COMMANDS) {
      expect(result.stdout).toContain(`  ${command.join(" ")}`);
    }
    expect(result.stdout).toContain("--json");
  });

  it("has --help on every command", async ({ expect }) => {
    const results = await Promise.all(
      ALL_COMMANDS.map((command) => runSello([...command, "--help"], {})),
    );
    for (const [index, result] of results.entries()) {
      const name = (ALL_COMMANDS[index] as string[]).join(" ");
      expect(result.code, name).toBe(0);
      expect(result.stdout, name).toContain(`Usage: sello ${name}`);
      expect(result.stdout, name).toContain("--json");
      expect(result.stdout, name).toContain("-h, --help");
    }
  });

  it("prints the same text for help <command>", async ({ expect }) => {
    const [viaHelp, viaOption] = await Promise.all([
      runSello(["help", "user", "add"], {}),
      runSello(["user", "add", "-h"], {}),
    ]);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toBe(viaOption.stdout);
    expect(viaHelp.stdout).toContain("--roles <roles>");
    expect(viaHelp.stdout).toContain("--password-stdin");
  });

  it("shows a group's commands", async ({ expect }) => {
    const result = await runSello(["keys", "--help"], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("Usage: sello keys <command>");
    for (const name of ["list", "rotate", "export-jwks"]) {
      expect(result.stdout).toContain(`keys ${name}`);
    }
  });
});

describe.concurrent("usage errors", { timeout: TEST_TIMEOUT_MS }, () => {
  const cases: [string, string[], RegExp][] = [
    ["unknown command", ["frobnicate"], /Unknown command "frobnicate"\. Run "sello --help"/],
    ["unknown subcommand", ["user", "remove", "x"], /Unknown command "sello user remove"/],
    ["group without command", ["user"], /"sello user" needs a command: add, list/],
    [
      "unknown option",
      ["user", "list", "--colour"],
      /Unknown option --colour for "sello user list"/,
    ],
    ["unknown short option", ["keys", "list", "-x"], /Unknown option -x/],
    ["missing argument", ["user", "disable"], /Missing the argument <username>\./],
    ["missing option value", ["user", "list", "--search"], /The option --search needs a value\./],
    ["value for a flag", ["keys", "list", "--json=yes"], /The option --json takes no value\./],
    ["extra argument", ["user", "enable", "a", "b"], /Unexpected argument "b"\./],
    ["revoke without target", ["revoke"], /Give exactly one of --user <username> and --session/],
    ["revoke with both", ["revoke", "--user", "a", "--session", "b"], /Give exactly one/],
    ["help for nothing", ["help", "nothing"], /There is no command "sello nothing"/],
  ];

  for (const [name, args, message] of cases) {
    it(`rejects ${name} with 64`, async ({ expect }) => {
      const result = await runSello(args, shared.env);
      expect(result.code).toBe(64);
      expect(result.stdout).toBe("");
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(/Run "sello[^"]*--help" for usage\.\n$/);
    });
  }

  it("reports a usage error as JSON", async ({ expect }) => {
    const result = await runSello(["user", "list", "--json", "--colour"], shared.env);
    expect(result.code).toBe(64);
    expect(parseJson(result)).toEqual({
      error: "invalid_request",
      message: expect.stringMatching(/^Unknown option --colour/),
      reason: "usage",
    });
    expect(result.stderr).toMatch(/^sello: Unknown option --colour/);
  });
});

describe.concurrent("configuration and database", { timeout: TEST_TIMEOUT_MS }, () => {
  it("rejects an invalid setting with 78", async ({ expect }) => {
    const result = await runSello(["user", "list", "--json"], shared.env, {
      env: { SELLO_PORT: "not-a-port" },
    });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain("SELLO_PORT must be an integer");
    expect(parseJson(result).error).toBe("invalid_configuration");
  });

  it("rejects an in-memory database with 78", async ({ expect }) => {
    const result = await runSello(["user", "list"], shared.env, {
      env: { SELLO_DATABASE_URL: "sqlite::memory:" },
    });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain("SELLO_DATABASE_URL is sqlite::memory:");
  });

  it("needs migrate before other commands", async ({ expect }) => {
    const folder = await ownFolder();
    const before = await runSello(["user", "list"], folder.env);
    expect(before.code).toBe(69);
    expect(before.stderr).toContain(`No database exists at ${join(folder.dir, "sello.db")}`);
    expect(before.stderr).toContain('Run "sello migrate" to create it');
    expect(existsSync(join(folder.dir, "sello.db"))).toBe(false);

    const created = await runSello(["migrate", "--json"], folder.env);
    expect(created.code).toBe(0);
    expect(parseJson(created)).toEqual({ database: join(folder.dir, "sello.db"), created: true });

    const again = await runSello(["migrate"], folder.env);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(
      `The database ${join(folder.dir, "sello.db")} has the latest schema.\n`,
    );

    const after = await runSello(["user", "list"], folder.env);
    expect(after.code).toBe(0);
    expect(after.stdout).toBe("No users found.\n");
  });

  it("reports an unusable data folder with 69", async ({ expect }) => {
    const folder = await ownFolder();
    writeFileSync(join(folder.dir, "file"), "not a folder\n");
    const dataDir = join(folder.dir, "file", "below");
    const result = await runSello(["migrate"], folder.env, { env: { SELLO_DATA_DIR: dataDir } });
    expect(result.code).toBe(69);
    expect(result.stderr).toBe(
      `sello: The database cannot be opened: the data folder ${dataDir} cannot be created or written (ENOTDIR). Fix its permissions or set SELLO_DATA_DIR to a writable folder.\n`,
    );
  });
});

describe.concurrent("sello user", { timeout: TEST_TIMEOUT_MS }, () => {
  it("adds a user that can log in", async ({ expect }) => {
    const result = await runSello(
      ["user", "add", "Ada.Lovelace", "--roles", "editor,viewer", "--password-stdin", "--json"],
      shared.env,
      { input: `${PASSWORD}\n` },
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    const { user } = parseJson<{ user: Record<string, unknown> }>(result);
    expect(user).toMatchObject({
      username: "ada.lovelace",
      roles: ["editor", "viewer"],
      disabled: false,
    });
    expect(result.stdout).not.toContain(PASSWORD);

    const session = await login(running, "ada.lovelace", PASSWORD);
    expect(session.status).toBe(200);
    expect(claimsOf(session.accessToken).sub).toBe(user.id);
    expect(claimsOf(session.accessToken).roles).toEqual(["editor", "viewer"]);
  });

  it("prints a new user as aligned fields", async ({ expect }) => {
    const result = await runSello(["user", "add", "grace", "--password-stdin"], shared.env, {
      input: `${PASSWORD}\r\n`,
    });
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("Created user grace.");
    expect(lines[2]).toBe("username  grace");
    expect(lines[3]).toBe("roles     viewer");
    expect(lines[4]).toBe("status    enabled");
    const session = await login(running, "grace", PASSWORD);
    expect(session.status).toBe(200);
  });

  it("rejects a duplicate username with 65", async ({ expect }) => {
    await addUser(shared, "duplicate");
    const result = await runSello(["user", "add", "DUPLICATE", "--password-stdin"], shared.env, {
      input: `${OTHER_PASSWORD}\n`,
    });
    expect(result.code).toBe(65);
    expect(result.stderr).toBe(
      'sello: A user named "duplicate" already exists. Choose another username, or run "sello user reset-password duplicate" to change its password.\n',
    );
    expect((await login(running, "duplicate", OTHER_PASSWORD)).status).toBe(401);
  });

  it("rejects a weak password with 65", async ({ expect }) => {
    const cases: [string, RegExp][] = [
      ["short", /at least 8 characters/],
      ["password1", /commonly used passwords/],
      ["weakling", /commonly used passwords|same as the username/],
    ];
    for (const [password, message] of cases) {
      const result = await runSello(
        ["user", "add", "weakling", "--password-stdin", "--json"],
        shared.env,
        { input: `${password}\n` },
      );
      expect(result.code, password).toBe(65);
      expect(result.stderr, password).toMatch(message);
      expect(result.stderr, password).not.toContain(password);
      expect(parseJson(result).error, password).toBe("weak_password");
    }
    const list = await runSello(["user", "list", "--search", "weakling"], shared.env);
    expect(list.stdout).toBe('No username contains "weakling".\n');
  });

  it("rejects a password given as an argument with 64", async ({ expect }) => {
    const secret = "hunter2-as-an-argument";
    const attempts = [
      ["user", "add", "mallory", secret],
      ["user", "add", "mallory", `--password=${secret}`],
      ["user", "add", "mallory", "--password", secret],
      ["user", "reset-password", "grace", secret],
      ["user", "reset-password", "grace", "-p", secret],
    ];
    for (const args of attempts) {
      const result = await runSello(args, shared.env);
      expect(result.code, args.join(" ")).toBe(64);
      expect(result.stderr, args.join(" ")).toContain(
        "Passwords are never accepted as command-line arguments",
      );
      expect(result.stderr, args.join(" ")).not.toContain(secret);
    }
    const list = await runSello(["user", "list", "--search", "mallory"], shared.env);
    expect(list.stdout).toBe('No username contains "mallory".\n');
  });

  it("needs --password-stdin when stdin is not a terminal", async ({ expect }) => {
    const result = await runSello(["user", "add", "nopass"], shared.env, {
      input: `${PASSWORD}\n`,
    });
    expect(result.code).toBe(64);
    expect(result.stderr).toContain("stdin is not a terminal, so sello cannot prompt");
    expect(result.stderr).toContain("--password-stdin");
  });

  it("rejects an empty or multi-line stdin password with 65", async ({ expect }) => {
    const empty = await runSello(["user", "add", "emptypass", "--password-stdin"], shared.env);
    expect(empty.code).toBe(65);
    expect(empty.stderr).toContain("stdin was empty, so there is no password");

    const twoLines = await runSello(["user", "add", "emptypass", "--password-stdin"], shared.env, {
      input: `${PASSWORD}\nsecond line\n`,
    });
    expect(twoLines.code).toBe(65);
    expect(twoLines.stderr).toContain("has more than one line");
  });

  it("rejects an unknown role and a bad username with 65", async ({ expect }) => {
    const role = await runSello(["user", "add", "roleless", "--roles", "root"], shared.env);
    expect(role.code).toBe(65);
    expect(role.stderr).toBe('sello: Unknown role "root". Known roles: admin, editor, viewer.\n');

    const name = await runSello(["user", "add", "a b", "--password-stdin"], shared.env, {
      input: `${PASSWORD}\n`,
    });
    expect(name.code).toBe(65);
    expect(name.stderr).toMatch(/^sello: .*username/i);
  });

  it("lists users as a table and as JSON", async ({ expect }) => {
    const folder = await ownFolder();
    await runSello(["migrate"], folder.env);
    await addUser(folder, "zed", "admin");
    await addUser(folder, "amy");
    await addUser(folder, "bea", "editor,viewer");

    const table = await runSello(["user", "list"], folder.env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines.map((line) => line.split(/\s{2,}/).slice(0, 3))).toEqual([
      ["USERNAME", "ROLES", "STATUS"],
      ["amy", "viewer", "enabled"],
      ["bea", "editor,viewer", "enabled"],
      ["zed", "admin", "enabled"],
    ]);
    const statusColumn = (lines[0] as string).indexOf("STATUS");
    for (const line of lines) {
      expect(line.slice(statusColumn)).toMatch(/^(STATUS|enabled)/);
    }

    const page = await runSello(["user", "list", "--limit", "2", "--json"], folder.env);
    const body = parseJson<{ users: { username: string }[]; nextCursor: string | null }>(page);
    expect(body.users.map((user) => user.username)).toEqual(["amy", "bea"]);
    expect(body.nextCursor).toBe("bea");
    expect(page.stderr).toContain("--after bea");

    const next = await runSello(["user", "list", "--after", "bea", "--json"], folder.env);
    expect(parseJson<{ users: { username: string }[] }>(next).users).toHaveLength(1);

    const search = await runSello(["user", "list", "--search", "E", "--json"], folder.env);
    const found = parseJson<{ users: { username: string }[] }>(search).users;
    expect(found.map((user) => user.username)).toEqual(["bea", "zed"]);

    const badLimit = await runSello(["user", "list", "--limit", "0"], folder.env);
    expect(badLimit.code).toBe(65);
    expect(badLimit.stderr).toBe('sello: --limit must be a whole number from 1 to 500; got "0".\n');
  });

  it("sets roles that the next login carries", async ({ expect }) => {
    await addUser(shared, "roleplayer");
    const result = await runSello(
      ["user", "set-roles", "roleplayer", "admin, editor", "--json"],
      shared.env,
    );
    expect(result.code).toBe(0);
    expect(parseJson(result)).toMatchObject({
      user: { username: "roleplayer", roles: ["admin", "editor"] },
      previousRoles: ["viewer"],
    });
    const session = await login(running, "roleplayer", PASSWORD);
    expect(claimsOf(session.accessToken).roles).toEqual(["admin", "editor"]);

    const cleared = await runSello(["user", "set-roles", "roleplayer", ""], shared.env);
    expect(cleared.code).toBe(0);
    expect(cleared.stdout).toContain("to (none) (before: admin, editor)");

    const unknown = await runSello(["user", "set-roles", "roleplayer", "owner"], shared.env);
    expect(unknown.code).toBe(65);
    expect(unknown.stderr).toContain('Unknown role "owner"');
  });

  it("reports an unknown user with 66", async ({ expect }) => {
    for (const args of [
      ["user", "disable", "nobody"],
      ["user", "enable", "nobody"],
      ["user", "set-roles", "nobody", "viewer"],
      ["user", "sessions", "nobody"],
      ["user", "reset-password", "nobody", "--password-stdin"],
      ["revoke", "--user", "nobody"],
      ["token", "issue", "--subject", "nobody", "--insecure-for-testing"],
    ]) {
      const result = await runSello(args, shared.env, { input: `${PASSWORD}\n` });
      expect(result.code, args.join(" ")).toBe(66);
      expect(result.stderr, args.join(" ")).toBe(
        'sello: No user is named "nobody". Run "sello user list" to see the usernames.\n',
      );
    }
  });

  it("disables a user, revoking its sessions, and enables it", async ({ expect }) => {
    await addUser(shared, "disabled.dan");
    const session = await login(running, "disabled.dan", PASSWORD);
    expect(session.status).toBe(200);

    const disabled = await runSello(["user", "disable", "disabled.dan", "--json"], shared.env);
    expect(disabled.code).toBe(0);
    expect(parseJson(disabled)).toMatchObject({
      user: { username: "disabled.dan", disabled: true },
      revokedSessions: 1,
    });
    expect(disabled.stderr).toContain("running servers reject the revoked refresh tokens");

    expect((await refresh(running, session.refreshToken)).status).toBe(401);
    expect((await login(running, "disabled.dan", PASSWORD)).error).toBe("invalid_credentials");
    const verify = await runSello(["token", "verify", session.accessToken], shared.env);
    expect(verify.code).toBe(77);
    expect(verify.stderr).toContain("token_revoked");

    const sessions = await runSello(["user", "sessions", "disabled.dan", "--all"], shared.env);
    expect(sessions.stdout).toContain("revoked (user_disabled)");

    const enabled = await runSello(["user", "enable", "disabled.dan"], shared.env);
    expect(enabled.code).toBe(0);
    expect(enabled.stdout).toBe("disabled.dan is now enabled and can log in.\n");
    expect((await login(running, "disabled.dan", PASSWORD)).status).toBe(200);

    const again = await runSello(["user", "enable", "disabled.dan"], shared.env);
    expect(again.stdout).toBe("disabled.dan was already enabled.\n");
  });

  it("resets a password and revokes sessions", async ({ expect }) => {
    await addUser(shared, "forgetful");
    const session = await login(running, "forgetful", PASSWORD);

    const weak = await runSello(
      ["user", "reset-password", "forgetful", "--password-stdin"],
      shared.env,
      { input: "forgetful\n" },
    );
    expect(weak.code).toBe(65);

    const reset = await runSello(
      ["user", "reset-password", "forgetful", "--password-stdin", "--json"],
      shared.env,
      { input: `${OTHER_PASSWORD}\n` },
    );
    expect(reset.code).toBe(0);
    expect(parseJson(reset)).toMatchObject({ revokedSessions: 1 });
    expect(reset.stdout).not.toContain(OTHER_PASSWORD);

    expect((await refresh(running, session.refreshToken)).status).toBe(401);
    expect((await login(running, "forgetful", PASSWORD)).status).toBe(401);
    expect((await login(running, "forgetful", OTHER_PASSWORD)).status).toBe(200);
  });

  it("lists a user's sessions", async ({ expect }) => {
    await addUser(shared, "sessionful");
    const first = await login(running, "sessionful", PASSWORD);
    await login(running, "sessionful", PASSWORD);

    const table = await runSello(["user", "sessions", "sessionful"], shared.env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^SESSION\s+CLIENT\s+CREATED\s+LAST USED\s+EXPIRES\s+STATE\s+IP$/);
    expect(lines).toHaveLength(3);
    expect(table.stdout).toContain(claimsOf(first.accessToken).sid as string);

    const json = await runSello(["user", "sessions", "sessionful", "--json"], shared.env);
    const body = parseJson<{ user: string; sessions: { id: string; revokedAt: null }[] }>(json);
    expect(body.user).toBe("sessionful");
    expect(body.sessions).toHaveLength(2);
  });
});

describe.concurrent("sello revoke", { timeout: TEST_TIMEOUT_MS }, () => {
  it("revokes one session", async ({ expect }) => {
    await addUser(shared, "one.session");
    const remaining = await login(running, "one.session", PASSWORD);
    const revoked = await login(running, "one.session", PASSWORD);
    const sessionId = claimsOf(revoked.accessToken).sid as string;

    const result = await runSello(["revoke", "--session", sessionId, "--json"], shared.env);
    expect(result.code).toBe(0);
    expect(parseJson(result)).toEqual({
      session: sessionId,
      user: "one.session",
      alreadyRevoked: false,
    });

    expect((await refresh(running, revoked.refreshToken)).status).toBe(401);
    expect((await refresh(running, remaining.refreshToken)).status).toBe(200);
    const verify = await runSello(["token", "verify", revoked.accessToken, "--json"], shared.env);
    expect(verify.code).toBe(77);
    expect(parseJson(verify)).toMatchObject({ error: "token_revoked", reason: "revoked" });

    const again = await runSello(["revoke", "--session", sessionId], shared.env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(
      /was already revoked at .* \(admin_revoked\)\. Nothing was changed\./,
    );
  });

  it("revokes every session of a user", async ({ expect }) => {
    await addUser(shared, "many.sessions");
    const sessions = [
      await login(running, "many.sessions", PASSWORD),
      await login(running, "many.sessions", PASSWORD),
    ];

    const result = await runSello(["revoke", "--user", "many.sessions"], shared.env);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      "Revoked 2 sessions of many.sessions, and every access token issued to it before now.\n",
    );
    for (const session of sessions) {
      expect((await refresh(running, session.refreshToken)).status).toBe(401);
    }
    expect((await login(running, "many.sessions", PASSWORD)).status).toBe(200);
  });

  it("reports an unknown session with 66", async ({ expect }) => {
    const result = await runSello(["revoke", "--session", "no-such-session"], shared.env);
    expect(result.code).toBe(66);
    expect(result.stderr).toContain('No session has the id "no-such-session"');
  });
});

describe.concurrent("sello token", { timeout: TEST_TIMEOUT_MS }, () => {
  it("decodes without verifying, labelled as such", async ({ expect }) => {
    await addUser(shared, "decoder");
    const session = await login(running, "decoder", PASSWORD);

    const text = await runSello(["token", "decode", session.accessToken], shared.env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^UNVERIFIED: decoded only\./);
    expect(text.stdout).toContain("Header (unverified):");
    expect(text.stdout).toContain("Payload (unverified):");
    expect(text.stdout).toContain('"typ": "at+jwt"');

    const json = await runSello(["token", "decode", "-", "--json"], shared.env, {
      input: `${session.accessToken}\n`,
    });
    expect(json.code).toBe(0);
    const body = parseJson<{ verified: boolean; header: object; payload: object }>(json);
    expect(body.verified).toBe(false);
    expect(body.payload).toEqual(claimsOf(session.accessToken));
    expect(body.header).toMatchObject({ typ: "at+jwt", alg: "ES256" });

    // A token with a broken signature still decodes: decode checks nothing.
    const tampered = `${session.accessToken.slice(0, -4)}AAAA`;
    expect((await runSello(["token", "decode", tampered], shared.env)).code).toBe(0);
  });

  it("rejects a malformed token to decode with 65", async ({ expect }) => {
    const cases: [string, RegExp][] = [
      ["not-a-token", /this token has 1\./],
      ["a.b.c.d.e", /encrypted JWT \(JWE\)/],
      ["e30.bm90IGpzb24.sig", /payload is not JSON/],
      ["e30.W10.sig", /payload is JSON but not a JSON object/],
      ["e30.e30=.sig", /payload is not base64url/],
    ];
    for (const [token, message] of cases) {
      const result = await runSello(["token", "decode", token], shared.env);
      expect(result.code, token).toBe(65);
      expect(result.stderr, token).toMatch(message);
    }
  });

  it("verifies a token from the server", async ({ expect }) => {
    await addUser(shared, "verifier", "editor");
    const session = await login(running, "verifier", PASSWORD);
    const claims = claimsOf(session.accessToken);

    const json = await runSello(["token", "verify", session.accessToken, "--json"], shared.env);
    expect(json.code).toBe(0);
    expect(json.stderr).toBe("");
    expect(parseJson(json)).toMatchObject({
      valid: true,
      username: "verifier",
      claims: { sub: claims.sub, sid: claims.sid, roles: ["editor"] },
    });

    const text = await runSello(["token", "verify", "-"], shared.env, {
      input: session.accessToken,
    });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^Valid access token: the signature, issuer, audience, expiry/);
    expect(text.stdout).toMatch(new RegExp(`^subject {6}${claims.sub} \\(verifier\\)$`, "m"));
  });

  it("rejects a bad token to verify with 77", async ({ expect }) => {
    await addUser(shared, "rejected");
    const session = await login(running, "rejected", PASSWORD);
    const [header, payload, signature] = session.accessToken.split(".") as [string, string, string];
    const forged = Buffer.from(
      JSON.stringify({ ...claimsOf(session.accessToken), roles: ["admin"] }),
    ).toString("base64url");
    const flipped = `${signature.slice(0, 10)}${signature[10] === "A" ? "B" : "A"}${signature.slice(11)}`;

    const cases: [string, string[], Record<string, string>, string, string][] = [
      ["garbage", ["not.a.token"], {}, "invalid_token", "non_canonical_base64url"],
      ["malformed", ["abc"], {}, "invalid_token", "malformed"],
      [
        "changed payload",
        [`${header}.${forged}.${signature}`],
        {},
        "invalid_token",
        "signature_invalid",
      ],
      [
        "changed signature",
        [`${header}.${payload}.${flipped}`],
        {},
        "invalid_token",
        "signature_invalid",
      ],
      [
        "other issuer",
        [session.accessToken],
        { SELLO_PUBLIC_URL: "http://localhost:1" },
        "invalid_token",
        "iss_mismatch",
      ],
      [
        "other audience",
        [session.accessToken],
        { SELLO_AUDIENCE: "https://api.example.com" },
        "invalid_token",
        "aud_mismatch",
      ],
    ];
    for (const [name, args, env, code, reason] of cases) {
      const result = await runSello(["token", "verify", ...args, "--json"], shared.env, { env });
      expect(result.code, name).toBe(77);
      expect(parseJson(result), name).toMatchObject({ error: code, reason });
      expect(result.stderr, name).toMatch(
        new RegExp(`^sello: Token rejected \\(${code}, reason ${reason}\\): `),
      );
    }

    const issuer = await runSello(["token", "verify", session.accessToken], shared.env, {
      env: { SELLO_PUBLIC_URL: "http://localhost:1" },
    });
    expect(issuer.stderr).toContain('but this configuration expects "http://localhost:1"');
  });

  it("rejects issue without --insecure-for-testing", async ({ expect }) => {
    const result = await runSello(["token", "issue", "--subject", "anyone"], shared.env);
    expect(result.code).toBe(64);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("whoever holds the token acts as the user");
    expect(result.stderr).toContain("Add --insecure-for-testing");
  });

  it("issues a test token that the server accepts", async ({ expect }) => {
    await addUser(shared, "tester", "editor");

    const text = await runSello(
      ["token", "issue", "--subject", "tester", "--insecure-for-testing"],
      shared.env,
    );
    expect(text.code).toBe(0);
    const token = text.stdout.trimEnd();
    expect(text.stdout).toBe(`${token}\n`);
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(text.stderr).toContain("Issued a test access token for tester (roles: editor)");

    const me = await fetch(`${running.url}/auth/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ username: "tester", roles: ["editor"] });

    const json = await runSello(
      [
        "token",
        "issue",
        "--subject",
        "tester",
        "--roles",
        "viewer",
        "--ttl",
        "90s",
        "--insecure-for-testing",
        "--json",
      ],
      shared.env,
    );
    expect(json.code).toBe(0);
    const body = parseJson<{ accessToken: string; expiresIn: number; claims: object }>(json);
    expect(body.expiresIn).toBe(90);
    expect(body.claims).toMatchObject({ roles: ["viewer"], permissions: ["notes:read"] });
    const verify = await runSello(["token", "verify", body.accessToken], shared.env);
    expect(verify.code).toBe(0);
  });

  it("limits --ttl to SELLO_ACCESS_TTL", async ({ expect }) => {
    await addUser(shared, "ttl.tester");
    for (const ttl of ["11m", "0", "1.5", "soon"]) {
      const result = await runSello(
        ["token", "issue", "--subject", "ttl.tester", "--ttl", ttl, "--insecure-for-testing"],
        shared.env,
      );
      expect(result.code, ttl).toBe(65);
      expect(result.stdout, ttl).toBe("");
    }
    const missing = await runSello(["token", "issue", "--insecure-for-testing"], shared.env);
    expect(missing.code).toBe(64);
    expect(missing.stderr).toContain("Missing the option --subject <username>");
  });
});

describe.concurrent("sello keys", { timeout: TEST_TIMEOUT_MS }, () => {
  it("lists, rotates and exports keys", async ({ expect }) => {
    const folder = await ownFolder({ SELLO_KEY_PROPAGATION_DELAY: "20m" });
    await runSello(["migrate"], folder.env);

    const first = await runSello(["keys", "list", "--json"], folder.env);
    expect(first.code).toBe(0);
    const initial = parseJson<{ algorithm: string; keys: Record<string, unknown>[] }>(first);
    expect(initial.algorithm).toBe("ES256");
    expect(initial.keys).toHaveLength(1);
    expect(initial.keys[0]).toMatchObject({ alg: "ES256", state: "current", retiredAt: null });
    const currentKid = initial.keys[0]?.kid as string;

    const rotated = await runSello(["keys", "rotate", "--json"], folder.env);
    expect(rotated.code).toBe(0);
    const rotation = parseJson<{ kid: string; activatesAt: string; alreadyScheduled: boolean }>(
      rotated,
    );
    expect(rotation.alreadyScheduled).toBe(false);
    expect(rotation.kid).not.toBe(currentKid);

    const table = await runSello(["keys", "list"], folder.env);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^KID\s+ALG\s+STATE\s+CREATED\s+ACTIVATED\s+RETIRED\s+VERIFY UNTIL$/);
    expect(lines[1]).toMatch(new RegExp(`^${currentKid}\\s+ES256\\s+current\\s`));
    expect(lines[2]).toMatch(new RegExp(`^${rotation.kid}\\s+ES256\\s+next\\s`));
    expect(lines[2]).toContain(`${rotation.activatesAt.replace(/\.\d{3}Z$/, "Z")} (due)`);

    const listed = parseJson<{ keys: { kid: string; createdAt: string; activatesAt: string }[] }>(
      await runSello(["keys", "list", "--json"], folder.env),
    );
    const next = listed.keys.find((key) => key.kid === rotation.kid);
    expect(Date.parse(next?.activatesAt ?? "") - Date.parse(next?.createdAt ?? "")).toBe(
      20 * 60 * 1000,
    );

    const again = await runSello(["keys", "rotate"], folder.env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`A rotation is already scheduled: key ${rotation.kid}`);

    const exported = await runSello(["keys", "export-jwks"], folder.env);
    expect(exported.code).toBe(0);
    const jwks = parseJson<{ keys: Record<string, unknown>[] }>(exported);
    expect(jwks.keys.map((key) => key.kid)).toEqual([currentKid, rotation.kid]);
    for (const key of jwks.keys) {
      expect(key).not.toHaveProperty("d");
      expect(key).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", use: "sig" });
    }
    const exportedJson = await runSello(["keys", "export-jwks", "--json"], folder.env);
    expect(exportedJson.stdout).toBe(exported.stdout);
  });

  it("handles HS256 keys", async ({ expect }) => {
    const folder = await ownFolder({
      SELLO_ALGORITHM: "HS256",
      SELLO_HS256_SECRET: randomBytes(32).toString("base64url"),
    });
    await runSello(["migrate"], folder.env);

    const list = await runSello(["keys", "list", "--json"], folder.env);
    expect(list.code).toBe(0);
    expect(parseJson<{ keys: { alg: string; state: string }[] }>(list).keys).toEqual([
      expect.objectContaining({ alg: "HS256", state: "current" }),
    ]);
    expect(list.stdout).not.toContain(folder.env.SELLO_HS256_SECRET);

    const rotate = await runSello(["keys", "rotate"], folder.env);
    expect(rotate.code).toBe(64);
    expect(rotate.stderr).toContain("Set a new SELLO_HS256_SECRET");

    const jwks = await runSello(["keys", "export-jwks"], folder.env);
    expect(parseJson(jwks)).toEqual({ keys: [] });
    expect(jwks.stderr).toContain("HS256 mode publishes no keys");
  });

  it("reports a wrong key-encryption key with 78", async ({ expect }) => {
    const folder = await ownFolder();
    await runSello(["migrate"], folder.env);
    expect((await runSello(["keys", "list"], folder.env)).code).toBe(0);

    const result = await runSello(["keys", "list"], folder.env, {
      env: { SELLO_KEY_ENCRYPTION_KEY_FILE: join(folder.dir, "other.key") },
    });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain("cannot be decrypted with the key-encryption key");
  });
});

describe.concurrent("sello serve", { timeout: TEST_TIMEOUT_MS }, () => {
  it("prints its URL as JSON and stops on SIGTERM", async ({ expect }) => {
    const folder = await ownFolder({ SELLO_PORT: "0" });
    const [command, ...prefix] = CLI_COMMAND;
    const child = spawn(command, [...prefix, "serve", "--json"], {
      cwd: REPOSITORY_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...folder.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const ended = collect(child);

    let stdout = "";
    const listening = await new Promise<{ url: string; mode: string }>((resolve, reject) => {
      child.stdout?.on("data", (chunk: Buffer | string) => {
        stdout += chunk.toString();
        try {
          resolve(JSON.parse(stdout));
        } catch {
          // The document is not complete yet.
        }
      });
      void ended.then((result) => reject(new Error(`serve exited early: ${result.stderr}`)));
    });
    expect(listening.mode).toBe("development");
    expect(listening.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${listening.url}/healthz`)).status).toBe(200);

    child.kill("SIGTERM");
    const result = await ended;
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(listening);
  });

  it("reports a weak HS256 secret with 78", async ({ expect }) => {
    const folder = await ownFolder({
      SELLO_ALGORITHM: "HS256",
      SELLO_HS256_SECRET: "secretsecretsecretsecretsecretsecret",
    });
    const result = await runSello(["serve"], folder.env);
    expect(result.code).toBe(78);
    expect(result.stderr).toMatch(/^sello: cannot start: Invalid HS256 secret: /);
    expect(result.stderr).not.toContain("secretsecretsecret");
  });

  it("reports a port in use with 69", async ({ expect }) => {
    const folder = await ownFolder();
    const blocker: NetServer = createNetServer();
    await new Promise<void>((resolve) =>
      blocker.listen(Number(folder.env.SELLO_PORT), "127.0.0.1", resolve),
    );
    try {
      const result = await runSello(["serve", "--json"], folder.env);
      expect(result.code).toBe(69);
      expect(result.stderr).toContain(
        `port ${folder.env.SELLO_PORT} on 127.0.0.1 is already in use. Stop the other process or set SELLO_PORT to a free port.`,
      );
      expect(parseJson(result).error).toBe("service_unavailable");
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});

const hasScript = spawnSync("script", ["--version"]).status === 0;

describe
  .skipIf(!hasScript)
  .concurrent("password prompt on a terminal", { timeout: TEST_TIMEOUT_MS }, () => {
    /**
     * Runs `sello <args>` in a pseudo-terminal made by util-linux `script`, answers each prompt
     * with the next of `answers` once it appears, and returns everything the terminal showed.
     */
    async function runInTerminal(args: string[], answers: string[]): Promise<RunResult> {
      const command = [...CLI_COMMAND, ...args].map((word) => `'${word}'`).join(" ");
      return withRunSlot(async () => {
        const child = spawn("script", ["--quiet", "--return", "--command", command, "/dev/null"], {
          cwd: REPOSITORY_ROOT,
          env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...shared.env },
          stdio: ["pipe", "pipe", "pipe"],
        });
        // stdin stays open until the end: `script` passes its end to the terminal as Ctrl-D.
        let terminalOutput = "";
        let answered = 0;
        child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
          terminalOutput += chunk;
          const prompts = terminalOutput.match(/password[^:\n]*: /gi)?.length ?? 0;
          while (answered < Math.min(prompts, answers.length)) {
            child.stdin?.write(answers[answered] as string);
            answered += 1;
          }
        });
        const result = await collect(child);
        return { ...result, stdout: terminalOutput };
      });
    }

    it("reads the password without echo", async ({ expect }) => {
      const secret = "typed at a terminal prompt";
      const result = await runInTerminal(["user", "add", "typist"], [`${secret}\r`, `${secret}\r`]);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("New password for typist: ");
      expect(result.stdout).toContain("Repeat the password: ");
      expect(result.stdout).toContain("Created user typist.");
      expect(result.stdout).not.toContain(secret);
      expect((await login(running, "typist", secret)).status).toBe(200);
    });

    it("rejects two different passwords with 65", async ({ expect }) => {
      const result = await runInTerminal(
        ["user", "add", "mismatch"],
        ["first long passphrase\r", "second long passphrase\r"],
      );
      expect(result.code).toBe(65);
      expect(result.stdout).toContain("The two passwords do not match; nothing was changed.");
    });

    it("rejects a weak password before repeating", async ({ expect }) => {
      const result = await runInTerminal(["user", "add", "hasty"], ["short\r"]);
      expect(result.code).toBe(65);
      expect(result.stdout).toContain("The password must be at least 8 characters long.");
      expect(result.stdout).not.toContain("Repeat the password");
    });

    it("exits with 130 on Ctrl-C", async ({ expect }) => {
      const result = await runInTerminal(["user", "reset-password", "grace"], ["\u0003"]);
      expect(result.code).toBe(130);
      expect(result.stdout).toContain("Cancelled at the password prompt; nothing was changed.");
    });
  });

describe("docs/cli.md", () => {
  it("lists the exit code of every error code", () => {
    const text = readFileSync(new URL("../../../docs/cli.md", import.meta.url), "utf8");
    for (const code of ERROR_CODES) {
      const row = new RegExp(`^\\| \`${code}\` +\\| (\\d+) +\\|`, "m").exec(text);
      expect(row?.[1], code).toBe(String(ERROR_REGISTRY[code].exitCode));
    }
  });
});
