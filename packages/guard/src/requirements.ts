import type { AccessTokenClaims } from "@sello/core";

/**
 * The roles and permissions a route needs beyond a valid token. With `mode: "all"` (the default)
 * the token must carry every listed role and permission, and with `mode: "any"` at least one of
 * them. Names match the token's `roles` and `permissions` arrays exactly and case-sensitively.
 */
export interface Requirement {
  roles?: readonly string[];
  permissions?: readonly string[];
  mode?: "all" | "any";
}

/** A requirement that passed {@link checkRequirement}: frozen, with both lists present. */
export interface CheckedRequirement extends Requirement {
  readonly roles: readonly string[];
  readonly permissions: readonly string[];
  readonly mode: "all" | "any";
}

const checked = new WeakSet<object>();

/**
 * Validates a requirement and returns a frozen copy. Throws a TypeError in these cases:
 * - it is not an object, or `mode` is not "all" or "any";
 * - `roles` or `permissions` is not an array of non-empty strings;
 * - both lists are empty, because a route guarded by nothing is a bug;
 * - a role is missing from `knownRoles`, because such a role can never be granted.
 */
export function checkRequirement(
  requirement: Requirement,
  knownRoles?: ReadonlySet<string>,
): CheckedRequirement {
  if (checked.has(requirement)) {
    return requirement as CheckedRequirement;
  }
  if (typeof requirement !== "object" || requirement === null) {
    throw new TypeError(
      'A requirement must be an object such as { permissions: ["notes:read"] } or { roles: ["admin"], mode: "any" }.',
    );
  }

  const roles = readNames(requirement.roles, "roles");
  const permissions = readNames(requirement.permissions, "permissions");
  if (roles.length === 0 && permissions.length === 0) {
    throw new TypeError(
      "A requirement lists no roles and no permissions. Name at least one, or leave the route without a requirement if any valid token may call it.",
    );
  }

  const mode = requirement.mode ?? "all";
  if (mode !== "all" && mode !== "any") {
    throw new TypeError(
      `A requirement's mode must be "all" or "any"; got ${JSON.stringify(requirement.mode)}.`,
    );
  }

  if (knownRoles !== undefined) {
    const unknown = roles.filter((role) => !knownRoles.has(role));
    if (unknown.length > 0) {
      throw new TypeError(
        `The required roles ${JSON.stringify(unknown)} are not in the guard's knownRoles, so no token could satisfy them. Add them to knownRoles or fix the spelling.`,
      );
    }
  }

  const result: CheckedRequirement = Object.freeze({
    roles: Object.freeze(roles),
    permissions: Object.freeze(permissions),
    mode,
  });
  checked.add(result);
  return result;
}

/**
 * Reports whether the claims satisfy a checked requirement. Token roles outside `knownRoles`
 * (when given) are ignored.
 */
export function isSatisfied(
  claims: Pick<AccessTokenClaims, "roles" | "permissions">,
  requirement: CheckedRequirement,
  knownRoles?: ReadonlySet<string>,
): boolean {
  const roles = new Set(
    knownRoles === undefined ? claims.roles : claims.roles.filter((role) => knownRoles.has(role)),
  );
  const permissions = new Set(claims.permissions);

  const results = [
    ...requirement.roles.map((role) => roles.has(role)),
    ...requirement.permissions.map((permission) => permissions.has(permission)),
  ];
  return requirement.mode === "any" ? results.some(Boolean) : results.every(Boolean);
}

function readNames(value: unknown, name: "roles" | "permissions"): string[] {
  if (value === undefined) {
    return [];
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string" && item !== "")) {
    throw new TypeError(`A requirement's ${name} must be an array of non-empty strings.`);
  }
  return [...new Set<string>(value)];
}
