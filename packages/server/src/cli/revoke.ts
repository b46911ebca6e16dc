import { SelloError } from "@sello/core";
import { type CommandSpec, type Invocation, stringOption, usageError } from "./args.js";
import { type CliContext, withContext } from "./context.js";
import { formatTime, plural } from "./output.js";
import { findUser, noteRunningServers } from "./users.js";

/** The `sello revoke` command. */
export const revokeCommands: CommandSpec[] = [
  {
    name: ["revoke"],
    summary: "Revoke every session of a user, or one session.",
    arguments: [],
    options: {
      user: {
        type: "string",
        placeholder: "<username>",
        description:
          "Revoke every session of this user and every access token issued to it before now.",
      },
      session: {
        type: "string",
        placeholder: "<id>",
        description: 'Revoke this session; "sello user sessions <username>" lists the ids.',
      },
    },
    notes: [
      "Give exactly one of --user and --session. The user stays enabled and can log in again.",
    ],
    run: revoke,
  },
];

async function revoke(invocation: Invocation): Promise<void> {
  const username = stringOption(invocation, "user");
  const sessionId = stringOption(invocation, "session");
  if ((username === undefined) === (sessionId === undefined)) {
    throw usageError("Give exactly one of --user <username> and --session <id>.", ["revoke"]);
  }

  await withContext(invocation.io, async (context) => {
    if (username !== undefined) {
      await revokeUser(invocation, context, username);
    } else {
      await revokeSession(invocation, context, sessionId as string);
    }
  });
}

async function revokeUser(invocation: Invocation, context: CliContext, username: string) {
  const { admin, actor } = await context.services();
  const user = await findUser(context, username);
  const revoked = await admin.revokeAllSessions(user.id, actor);
  invocation.output.result({ user: user.username, revokedSessions: revoked }, [
    `Revoked ${plural(revoked, "session")} of ${user.username}, and every access token issued to it before now.`,
  ]);
  noteRunningServers(invocation, context.config);
}

async function revokeSession(invocation: Invocation, context: CliContext, sessionId: string) {
  const { admin, actor } = await context.services();
  const session = await context.store.findSession(sessionId);
  if (session === undefined) {
    throw new SelloError("not_found", {
      message: `No session has the id "${sessionId}". Run "sello user sessions <username>" to list a user's sessions.`,
    });
  }
  const owner = await context.store.findUserById(session.userId);
  const ownerName = owner?.username ?? session.userId;

  if (session.revokedAt !== null) {
    invocation.output.result({ session: session.id, user: ownerName, alreadyRevoked: true }, [
      `Session ${session.id} of ${ownerName} was already revoked at ${formatTime(session.revokedAt)} (${session.revokedReason ?? "no reason"}). Nothing was changed.`,
    ]);
    return;
  }

  await admin.revokeSession(session.id, actor);
  invocation.output.result({ session: session.id, user: ownerName, alreadyRevoked: false }, [
    `Revoked session ${session.id} of ${ownerName}.`,
  ]);
  noteRunningServers(invocation, context.config);
}
