import type { AccessTokenClaims } from "@sello/core";
import type { Guard } from "@sello/guard";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Actor, AdminService } from "../admin-service.js";
import { routeDoc } from "../http/route-docs.js";
import { authorizationValues } from "../http/security.js";
import { originOf } from "./auth.js";

export interface AdminRoutesOptions {
  admin: AdminService;
  guard: Guard;
  /** Rotates the signing keys; resolves with the new key's kid and when it starts signing. */
  rotateKeys: (actor: Actor) => Promise<{ kid: string; activatesAt: string }>;
}

const id = {
  type: "string",
  pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
} as const;
const roleList = {
  type: "array",
  maxItems: 32,
  uniqueItems: true,
  items: { type: "string", minLength: 1, maxLength: 64 },
} as const;
const idParams = { type: "object", required: ["id"], properties: { id } } as const;

const listUsersSchema = {
  querystring: {
    type: "object",
    additionalProperties: false,
    properties: {
      search: { type: "string", maxLength: 64 },
      limit: { type: "string", pattern: "^[0-9]{1,4}$" },
      after: { type: "string", maxLength: 256 },
    },
  },
} as const;

const createUserSchema = {
  body: {
    type: "object",
    required: ["username", "password"],
    additionalProperties: false,
    properties: {
      username: { type: "string", minLength: 1, maxLength: 256 },
      password: { type: "string", minLength: 1, maxLength: 4096 },
      roles: roleList,
    },
  },
} as const;

const setRolesSchema = {
  params: idParams,
  body: {
    type: "object",
    required: ["roles"],
    additionalProperties: false,
    properties: { roles: roleList },
  },
} as const;

const auditSchema = {
  querystring: {
    type: "object",
    additionalProperties: false,
    properties: {
      user: id,
      type: { type: "string", maxLength: 64 },
      since: { type: "string", format: "date-time" },
      until: { type: "string", format: "date-time" },
      limit: { type: "string", pattern: "^[0-9]{1,4}$" },
      before: { type: "string", maxLength: 64 },
    },
  },
} as const;

/**
 * Registers the administration API under /admin. Every route needs an access token with the
 * `admin` role, and every change is written to the audit log.
 */
export async function adminRoutes(
  app: FastifyInstance,
  options: AdminRoutesOptions,
): Promise<void> {
  const { admin, guard } = options;

  async function requireAdmin(request: FastifyRequest): Promise<Actor> {
    const claims: AccessTokenClaims = await guard.authenticate(authorizationValues(request));
    guard.authorize(claims, { roles: ["admin"] });
    return { userId: claims.sub, ...originOf(request) };
  }

  app.get(
    "/admin/users",
    {
      schema: {
        ...listUsersSchema,
        ...routeDoc(
          "admin",
          "List users",
          "Lists users by username, 50 per page by default, with a cursor in after.",
          "bearer",
        ),
      },
    },
    async (request) => {
      await requireAdmin(request);
      const query = request.query as { search?: string; limit?: string; after?: string };
      return admin.listUsers({
        ...(query.search === undefined ? {} : { search: query.search.toLowerCase() }),
        ...(query.after === undefined ? {} : { after: query.after }),
        limit: clampLimit(query.limit, 50),
      });
    },
  );

  app.post(
    "/admin/users",
    {
      schema: {
        ...createUserSchema,
        ...routeDoc(
          "admin",
          "Create a user",
          "Creates a user with a password and optional roles.",
          "bearer",
        ),
      },
    },
    async (request, reply) => {
      const actor = await requireAdmin(request);
      const body = request.body as { username: string; password: string; roles?: string[] };
      const user = await admin.createUser(
        body.username,
        body.password,
        body.roles ?? ["viewer"],
        actor,
      );
      return reply.code(201).send({ user });
    },
  );

  app.get(
    "/admin/users/:id",
    {
      schema: {
        params: idParams,
        ...routeDoc("admin", "Get a user", "Returns one user.", "bearer"),
      },
    },
    async (request) => {
      await requireAdmin(request);
      return { user: await admin.getUser((request.params as { id: string }).id) };
    },
  );

  app.put(
    "/admin/users/:id/roles",
    {
      schema: {
        ...setRolesSchema,
        ...routeDoc(
          "admin",
          "Set roles",
          "Replaces the user's roles. New tokens carry them, and existing tokens keep the old ones until they expire.",
          "bearer",
        ),
      },
    },
    async (request) => {
      const actor = await requireAdmin(request);
      const { roles } = request.body as { roles: string[] };
      return { user: await admin.setRoles((request.params as { id: string }).id, roles, actor) };
    },
  );

  app.post(
    "/admin/users/:id/disable",
    {
      schema: {
        params: idParams,
        ...routeDoc(
          "admin",
          "Disable a user",
          "Disables the account and revokes all of its sessions and access tokens.",
          "bearer",
        ),
      },
    },
    async (request) => {
      const actor = await requireAdmin(request);
      return { user: await admin.disableUser((request.params as { id: string }).id, actor) };
    },
  );

  app.post(
    "/admin/users/:id/enable",
    {
      schema: {
        params: idParams,
        ...routeDoc("admin", "Enable a user", "Enables a disabled account again.", "bearer"),
      },
    },
    async (request) => {
      const actor = await requireAdmin(request);
      return { user: await admin.enableUser((request.params as { id: string }).id, actor) };
    },
  );

  app.delete(
    "/admin/users/:id",
    {
      schema: {
        params: idParams,
        ...routeDoc(
          "admin",
          "Delete a user",
          "Deletes the user with their sessions and refresh tokens.",
          "bearer",
        ),
      },
    },
    async (request, reply) => {
      const actor = await requireAdmin(request);
      await admin.deleteUser((request.params as { id: string }).id, actor);
      return reply.code(204).send();
    },
  );

  app.get(
    "/admin/users/:id/sessions",
    {
      schema: {
        params: idParams,
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: { include_revoked: { type: "string", enum: ["true", "false"] } },
        },
        ...routeDoc(
          "admin",
          "List a user's sessions",
          "Lists the user's live sessions, and revoked ones too with include_revoked=true.",
          "bearer",
        ),
      },
    },
    async (request) => {
      await requireAdmin(request);
      const includeRevoked =
        (request.query as { include_revoked?: string }).include_revoked === "true";
      return {
        sessions: await admin.listSessions((request.params as { id: string }).id, includeRevoked),
      };
    },
  );

  app.delete(
    "/admin/users/:id/sessions",
    {
      schema: {
        params: idParams,
        ...routeDoc(
          "admin",
          "Revoke a user's sessions",
          "Revokes every session of the user and every access token issued to them before now.",
          "bearer",
        ),
      },
    },
    async (request) => {
      const actor = await requireAdmin(request);
      return {
        revoked: await admin.revokeAllSessions((request.params as { id: string }).id, actor),
      };
    },
  );

  app.delete(
    "/admin/sessions/:id",
    {
      schema: {
        params: idParams,
        ...routeDoc(
          "admin",
          "Revoke a session",
          "Revokes one session and the access tokens issued for it.",
          "bearer",
        ),
      },
    },
    async (request, reply) => {
      const actor = await requireAdmin(request);
      await admin.revokeSession((request.params as { id: string }).id, actor);
      return reply.code(204).send();
    },
  );

  app.post(
    "/admin/keys/rotate",
    {
      schema: {
        ...routeDoc(
          "admin",
          "Rotate the signing key",
          "Creates a new signing key, published in the JWKS at once, that starts signing after the key propagation delay.",
          "bearer",
        ),
      },
    },
    async (request) => {
      const actor = await requireAdmin(request);
      return options.rotateKeys(actor);
    },
  );

  app.get(
    "/admin/audit",
    {
      schema: {
        ...auditSchema,
        ...routeDoc(
          "admin",
          "List audit events",
          "Lists audit events, newest first, filtered by user, type and time, with a cursor in before.",
          "bearer",
        ),
      },
    },
    async (request) => {
      await requireAdmin(request);
      const query = request.query as Record<string, string | undefined>;
      return admin.listAudit({
        ...(query.user === undefined ? {} : { userId: query.user }),
        ...(query.type === undefined ? {} : { type: query.type }),
        ...(query.since === undefined ? {} : { since: Date.parse(query.since) }),
        ...(query.until === undefined ? {} : { until: Date.parse(query.until) }),
        ...(query.before === undefined ? {} : { before: query.before }),
        limit: clampLimit(query.limit, 100),
      });
    },
  );
}

function clampLimit(text: string | undefined, fallback: number): number {
  const value = text === undefined ? fallback : Number(text);
  return Math.min(Math.max(value, 1), 500);
}
