import type { SelloServer } from "@sello/server";

/** A demo account: one per default role. */
export interface DemoUser {
  readonly username: string;
  readonly password: string;
  readonly role: "admin" | "editor" | "viewer";
}

/**
 * The demo accounts. Their passwords are public on purpose: the start-up log prints them, the
 * login page lists them and the README documents them, so that anyone trying the demo can log
 * in. They are created only when `config.createDemoUsers` is true, which `loadConfig` allows in
 * development mode only (on a loopback address, or with SELLO_DEMO_USERS=on).
 */
export const DEMO_USERS: readonly DemoUser[] = [
  { username: "admin", password: "sello-admin-demo", role: "admin" },
  { username: "editor", password: "sello-editor-demo", role: "editor" },
  { username: "viewer", password: "sello-viewer-demo", role: "viewer" },
];

/** The demo accounts that this start created, and those that an earlier start had created. */
export interface DemoUsersResult {
  created: DemoUser[];
  existing: DemoUser[];
}

/**
 * Creates the demo accounts that do not exist yet. An existing account keeps its password and
 * roles, so changes made through the admin API survive a restart.
 */
export async function createDemoUsers(server: SelloServer): Promise<DemoUsersResult> {
  const result: DemoUsersResult = { created: [], existing: [] };
  for (const user of DEMO_USERS) {
    const found = await server.store.findUserByUsername(user.username);
    if (found !== undefined) {
      result.existing.push(user);
      continue;
    }
    await server.auth.createUser(user.username, user.password, [user.role]);
    result.created.push(user);
  }
  return result;
}
