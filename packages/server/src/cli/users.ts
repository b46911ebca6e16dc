import { isSelloError, SelloError, type UserRecord } from "@sello/core";
import type { AdminSessionView, AdminUserView } from "../admin-service.js";
import type { ServerConfig } from "../config/index.js";
import { formatDuration } from "../config/parsers.js";
import { normaliseUsername } from "../usernames.js";
import {
  type CommandSpec,
  flagOption,
  type Invocation,
  PASSWORD_ARGUMENT_MESSAGE,
  parseInteger,
  parseRoleList,
  stringOption,
} from "./args.js";
import { type CliContext, type CliServices, withContext } from "./context.js";
import { formatFields, formatTable, formatTime, plural } from "./output.js";
import { readNewPassword } from "./prompt.js";

/** The roles `user add` gives when `--roles` is absent, as the admin API does. */
const DEFAULT_ROLES = ["viewer"];
const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 500;

const PASSWORD_STDIN_OPTION = {
  type: "boolean",
  description: "Read the password from stdin (one line) instead of prompting for it.",
} as const;

// The extra argument is not quoted back, because it may be a password.
const EXTRA_ARGUMENT_MESSAGE = `Unexpected argument after <username> (not shown, in case it is a password). ${PASSWORD_ARGUMENT_MESSAGE}`;

const PASSWORD_NOTE =
  "The password is typed at a prompt that does not show it, and asked twice, or read from a " +
  "pipe with --password-stdin. It is never taken from an argument.";

/** The `sello user …` commands. */
export const userCommands: CommandSpec[] = [
  {
    name: ["user", "add"],
    summary: "Create a user.",
    arguments: [{ name: "username", description: "The new user's name." }],
    options: {
      roles: {
        type: "string",
        placeholder: "<roles>",
        description: "Comma-separated roles, such as admin,editor. Default: viewer.",
      },
      "password-stdin": PASSWORD_STDIN_OPTION,
    },
    notes: [PASSWORD_NOTE],
    extraArgumentMessage: EXTRA_ARGUMENT_MESSAGE,
    run: addUser,
  },
  {
    name: ["user", "list"],
    summary: "List users, sorted by username.",
    arguments: [],
    options: {
      search: {
        type: "string",
        placeholder: "<text>",
        description: "Show only usernames that contain this text.",
      },
      limit: {
        type: "string",
        placeholder: "<n>",
        description: `Show at most n users, from 1 to ${MAX_LIST_LIMIT}. Default ${DEFAULT_LIST_LIMIT}.`,
      },
      after: {
        type: "string",
        placeholder: "<username>",
        description: "Start after this username, to read the next page.",
      },
    },
    run: listUsers,
  },
  {
    name: ["user", "sessions"],
    summary: "List a user's sessions, to find a session id for `sello revoke --session`.",
    arguments: [{ name: "username", description: "The user whose sessions to list." }],
    options: {
      all: { type: "boolean", description: "Include revoked sessions." },
    },
    run: listSessions,
  },
  {
    name: ["user", "set-roles"],
    summary: "Replace a user's roles.",
    arguments: [
      { name: "username", description: "The user to change." },
      {
        name: "roles",
        description: 'Comma-separated roles, such as admin,editor; "" removes every role.',
      },
    ],
    options: {},
    notes: ["Access tokens carry the new roles from the user's next login or refresh."],
    run: setRoles,
  },
  {
    name: ["user", "disable"],
    summary: "Disable a user and revoke all of its sessions and access tokens.",
    arguments: [{ name: "username", description: "The user to disable." }],
    options: {},
    run: disableUser,
  },
  {
    name: ["user", "enable"],
    summary: "Enable a disabled user, so that it can log in again.",
    arguments: [{ name: "username", description: "The user to enable." }],
    options: {},
    run: enableUser,
  },
  {
    name: ["user", "reset-password"],
    summary: "Set a new password for a user and revoke all of its sessions.",
    arguments: [{ name: "username", description: "The user whose password to set." }],
    options: { "password-stdin": PASSWORD_STDIN_OPTION },
    notes: [PASSWORD_NOTE],
    extraArgumentMessage: EXTRA_ARGUMENT_MESSAGE,
    run: resetPassword,
  },
];

async function addUser(invocation: Invocation): Promise<void> {
  const [username] = invocation.args as [string];
  const rolesText = stringOption(invocation, "roles");
  const roles = rolesText === undefined ? DEFAULT_ROLES : parseRoleList(rolesText);

  await withContext(invocation.io, async (context) => {
    const services = await context.services();
    const normalised = normaliseUsername(username);
    checkRoles(services, roles);
    if ((await context.store.findUserByUsername(normalised)) !== undefined) {
      throw usernameTaken(normalised);
    }

    const { checkNewPassword } = await import("../passwords.js");
    const password = await readNewPassword(invocation.io, {
      fromStdin: flagOption(invocation, "password-stdin"),
      username: normalised,
      command: invocation.command.name,
      validate: (candidate) => checkNewPassword(candidate, { username: normalised }),
    });

    let user: AdminUserView;
    try {
      user = await services.admin.createUser(normalised, password, roles, services.actor);
    } catch (error) {
      // Another process may have created the name between the check above and this insert.
      throw isSelloError(error, "username_taken") ? usernameTaken(normalised) : error;
    }
    invocation.output.result({ user }, [`Created user ${user.username}.`, ...describeUser(user)]);
  });
}

async function listUsers(invocation: Invocation): Promise<void> {
  const limitText = stringOption(invocation, "limit");
  const limit =
    limitText === undefined
      ? DEFAULT_LIST_LIMIT
      : parseInteger(limitText, "--limit", 1, MAX_LIST_LIMIT);
  const search = stringOption(invocation, "search");
  const after = stringOption(invocation, "after");

  await withContext(invocation.io, async (context) => {
    const { admin } = await context.services();
    const page = await admin.listUsers({
      limit,
      ...(search === undefined ? {} : { search: search.normalize("NFKC").toLowerCase() }),
      ...(after === undefined ? {} : { after }),
    });

    const rows = page.users.map((user) => [
      user.username,
      user.roles.join(",") || "-",
      user.disabled ? "disabled" : "enabled",
      formatTime(Date.parse(user.createdAt)),
      user.id,
    ]);
    const text =
      rows.length === 0
        ? [search === undefined ? "No users found." : `No username contains "${search}".`]
        : formatTable(["USERNAME", "ROLES", "STATUS", "CREATED", "ID"], rows);
    invocation.output.result(page, text);
    if (page.nextCursor !== null) {
      invocation.output.note(
        `More users follow. Run the command again with --after ${page.nextCursor} for the next page.`,
      );
    }
  });
}

async function listSessions(invocation: Invocation): Promise<void> {
  const [username] = invocation.args as [string];
  const includeRevoked = flagOption(invocation, "all");

  await withContext(invocation.io, async (context) => {
    const { admin } = await context.services();
    const user = await findUser(context, username);
    const sessions = await admin.listSessions(user.id, includeRevoked);
    const now = context.clock();

    const rows = sessions.map((session) => [
      session.id,
      session.clientId,
      formatTime(Date.parse(session.createdAt)),
      formatTime(Date.parse(session.lastUsedAt)),
      formatTime(
        Math.min(Date.parse(session.idleExpiresAt), Date.parse(session.absoluteExpiresAt)),
      ),
      sessionState(session, now),
      session.ip ?? "-",
    ]);
    const text =
      rows.length === 0
        ? [`${user.username} has no ${includeRevoked ? "" : "live "}sessions.`]
        : formatTable(
            ["SESSION", "CLIENT", "CREATED", "LAST USED", "EXPIRES", "STATE", "IP"],
            rows,
          );
    invocation.output.result({ user: user.username, sessions }, text);
  });
}

async function setRoles(invocation: Invocation): Promise<void> {
  const [username, rolesText] = invocation.args as [string, string];
  const roles = parseRoleList(rolesText);

  await withContext(invocation.io, async (context) => {
    const services = await context.services();
    const user = await findUser(context, username);
    checkRoles(services, roles);
    const updated = await services.admin.setRoles(user.id, roles, services.actor);
    invocation.output.result({ user: updated, previousRoles: user.roles }, [
      `Set the roles of ${updated.username} to ${listOrNone(updated.roles)} (before: ${listOrNone(user.roles)}).`,
      "Access tokens carry the new roles from the user's next login or refresh.",
    ]);
  });
}

async function disableUser(invocation: Invocation): Promise<void> {
  const [username] = invocation.args as [string];

  await withContext(invocation.io, async (context) => {
    const services = await context.services();
    const user = await findUser(context, username);

    // The same steps as AdminService.disableUser, which does not return the revoked sessions.
    await context.store.setDisabled(user.id, true, context.clock());
    const revoked = await services.auth.revokeAllSessions(user.id, "user_disabled");
    await services.audit.record("admin.user_disabled", {
      userId: user.id,
      userAgent: services.actor.userAgent,
      detail: { revokedSessions: revoked.length, actor: services.actor.userId },
    });

    const updated = await services.admin.getUser(user.id);
    const state = user.disabled ? "was already disabled" : "is now disabled";
    invocation.output.result({ user: updated, revokedSessions: revoked.length }, [
      `${updated.username} ${state}; revoked ${plural(revoked.length, "session")} and every access token issued before now.`,
    ]);
    noteRunningServers(invocation, context.config);
  });
}

async function enableUser(invocation: Invocation): Promise<void> {
  const [username] = invocation.args as [string];

  await withContext(invocation.io, async (context) => {
    const services = await context.services();
    const user = await findUser(context, username);
    const updated = await services.admin.enableUser(user.id, services.actor);
    const state = user.disabled ? "is now enabled and can log in" : "was already enabled";
    invocation.output.result({ user: updated }, [`${updated.username} ${state}.`]);
  });
}

async function resetPassword(invocation: Invocation): Promise<void> {
  const [username] = invocation.args as [string];

  await withContext(invocation.io, async (context) => {
    const services = await context.services();
    const user = await findUser(context, username);
    const { checkNewPassword, hashPassword } = await import("../passwords.js");
    const password = await readNewPassword(invocation.io, {
      fromStdin: flagOption(invocation, "password-stdin"),
      username: user.username,
      command: invocation.command.name,
      validate: (candidate) => checkNewPassword(candidate, { username: user.username }),
    });

    await context.store.updatePasswordHash(user.id, await hashPassword(password), context.clock());
    const revoked = await services.auth.revokeAllSessions(user.id, "password_reset");
    await services.audit.record("admin.password_reset", {
      userId: user.id,
      userAgent: services.actor.userAgent,
      detail: { revokedSessions: revoked.length, actor: services.actor.userId },
    });

    invocation.output.result(
      { user: await services.admin.getUser(user.id), revokedSessions: revoked.length },
      [
        `Set a new password for ${user.username}; revoked ${plural(revoked.length, "session")} and every access token issued before now.`,
      ],
    );
    noteRunningServers(invocation, context.config);
  });
}

/**
 * Finds a user by the name as typed, after the same normalisation as login. Throws
 * `validation_failed` for an impossible name and `not_found` for an unknown one.
 */
export async function findUser(context: CliContext, username: string): Promise<UserRecord> {
  const normalised = normaliseUsername(username);
  const user = await context.store.findUserByUsername(normalised);
  if (user === undefined) {
    throw new SelloError("not_found", {
      message: `No user is named "${normalised}". Run "sello user list" to see the usernames.`,
    });
  }
  return user;
}

/** Throws `validation_failed` naming the first role that the server does not define. */
export function checkRoles(services: CliServices, roles: readonly string[]): void {
  const unknown = roles.find((role) => !services.roles.has(role));
  if (unknown !== undefined) {
    throw new SelloError("validation_failed", {
      message: `Unknown role "${unknown}". Known roles: ${services.roles.roles.join(", ")}.`,
    });
  }
}

/**
 * Tells the operator what a revocation does to servers that are running now: they read the
 * database for every refresh, but load the revocation list for access tokens only at start.
 */
export function noteRunningServers(invocation: Invocation, config: ServerConfig): void {
  invocation.output.note(
    "Note: running servers reject the revoked refresh tokens at once, but keep accepting access " +
      `tokens issued before now until those expire (SELLO_ACCESS_TTL, ${formatDuration(config.accessTtl)}) ` +
      "or the server restarts.",
  );
}

function usernameTaken(username: string): SelloError {
  return new SelloError("username_taken", {
    message: `A user named "${username}" already exists. Choose another username, or run "sello user reset-password ${username}" to change its password.`,
  });
}

function describeUser(user: AdminUserView): string[] {
  return formatFields([
    ["id", user.id],
    ["username", user.username],
    ["roles", listOrNone(user.roles)],
    ["status", user.disabled ? "disabled" : "enabled"],
    ["created", formatTime(Date.parse(user.createdAt))],
  ]);
}

function listOrNone(items: readonly string[]): string {
  return items.length === 0 ? "(none)" : items.join(", ");
}

function sessionState(session: AdminSessionView, now: number): string {
  if (session.revokedAt !== null) {
    return `revoked (${session.revokedReason ?? "no reason"})`;
  }
  const expiresAt = Math.min(
    Date.parse(session.idleExpiresAt),
    Date.parse(session.absoluteExpiresAt),
  );
  return expiresAt <= now ? "expired" : "live";
}
