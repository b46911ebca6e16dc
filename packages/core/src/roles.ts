/**
 * Maps role names to the permissions they grant. A role that is not defined grants nothing, so a
 * token or a user record naming an unknown role gains no permission through it.
 */
export type RoleDefinitions = Readonly<Record<string, readonly string[]>>;

/** The roles defined in a fresh Sello installation. */
export const DEFAULT_ROLES: RoleDefinitions = {
  admin: [
    "notes:read",
    "notes:write",
    "notes:delete",
    "users:read",
    "users:write",
    "sessions:revoke",
    "keys:rotate",
    "audit:read",
  ],
  editor: ["notes:read", "notes:write"],
  viewer: ["notes:read"],
};

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

export interface RoleMap {
  /** The defined role names, sorted. */
  readonly roles: readonly string[];
  /** Reports whether `role` is defined. */
  has(role: string): boolean;
  /** The union of the permissions of the defined roles among `roles`, sorted, without repeats. */
  permissionsFor(roles: readonly string[]): string[];
}

/** Validates role definitions once and returns a lookup. Throws a TypeError naming a bad entry. */
export function createRoleMap(definitions: RoleDefinitions = DEFAULT_ROLES): RoleMap {
  const table = new Map<string, readonly string[]>();
  for (const [role, permissions] of Object.entries(definitions)) {
    if (!NAME_PATTERN.test(role)) {
      throw new TypeError(
        `Role name ${JSON.stringify(role)} must be 1 to 64 letters, digits or the characters _ . : -`,
      );
    }
    if (!Array.isArray(permissions) || !permissions.every((p) => NAME_PATTERN.test(p))) {
      throw new TypeError(
        `The permissions of role ${JSON.stringify(role)} must be an array of names of 1 to 64 letters, digits or _ . : -`,
      );
    }
    table.set(role, [...new Set(permissions)]);
  }
  const roles = [...table.keys()].sort();

  return {
    roles,
    has: (role) => table.has(role),
    permissionsFor(requested) {
      const granted = new Set<string>();
      for (const role of requested) {
        for (const permission of table.get(role) ?? []) {
          granted.add(permission);
        }
      }
      return [...granted].sort();
    },
  };
}
