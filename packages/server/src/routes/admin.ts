import type { AccessTokenClaims } from "@sello/core";
import type { Guard } from "@sello/guard";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Actor, AdminService } from "../admin-service.js";
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

  app.get("/admin/users", { schema: listUsersSchema }, async (request) => {
    await requireAdmin(request);
    const query = request.query as { search?: string; limit?: string; after?: string };
    return admin.listUsers({
      ...(query.search === undefined ? {} : { search: query.search.toLowerCase() }),
      ...(query.after === undefined ? {} : { after: query.after }),
      limit: clampLimit(query.limit, 50),
    });
  });

  app.post("/admin/users", { schema: createUserSchema }, async (request, reply) => {
    const actor = await requireAdmin(request);
    const body = request.body as { username: string; password: string; roles?: string[] };
    const user = await admin.createUser(
      body.username,
      body.password,
      body.roles ?? ["viewer"],
      actor,
    );
    return reply.code(201).send({ user });
  });

  app.get("/admin/users/:id", { schema: { params: idParams } }, async (request) => {
    await requireAdmin(request);
    return { user: await admin.getUser((request.params as { id: string }).id) };
  });

  app.put("/admin/users/:id/roles", { schema: setRolesSchema }, async (request) => {
    const actor = await requireAdmin(request);
    const { roles } = request.body as { roles: string[] };
    return { user: await admin.setRoles((request.params as { id: string }).id, roles, actor) };
  });

  app.post("/admin/users/:id/disable", { schema: { params: idParams } }, async (request) => {
    const actor = await requireAdmin(request);
    return { user: await admin.disableUser((request.params as { id: string }).id, actor) };
  });

  app.post("/admin/users/:id/enable", { schema: { params: idParams } }, async (request) => {
    const actor = await requireAdmin(request);
    return { user: await admin.enableUser((request.params as { id: string }).id, actor) };
  });

  app.delete("/admin/users/:id", { schema: { params: idParams } }, async (request, reply) => {
    const actor = await requireAdmin(request);
    await admin.deleteUser((request.params as { id: string }).id, actor);
    return reply.code(204).send();
  });

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

  app.delete("/admin/users/:id/sessions", { schema: { params: idParams } }, async (request) => {
    const actor = await requireAdmin(request);
    return { revoked: await admin.revokeAllSessions((request.params as { id: string }).id, actor) };
  });

  app.delete("/admin/sessions/:id", { schema: { params: idParams } }, async (request, reply) => {
    const actor = await requireAdmin(request);
    await admin.revokeSession((request.params as { id: string }).id, actor);
    return reply.code(204).send();
  });

  app.post("/admin/keys/rotate", async (request) => {
    const actor = await requireAdmin(request);
    return options.rotateKeys(actor);
  });

  app.get("/admin/audit", { schema: auditSchema }, async (request) => {
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
  });
}

function clampLimit(text: string | undefined, fallback: number): number {
  const value = text === undefined ? fallback : Number(text);
  return Math.min(Math.max(value, 1), 500);
}
