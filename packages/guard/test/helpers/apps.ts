import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { AccessTokenClaims } from "@sello/core";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import * as expressAdapter from "../../src/adapters/express.js";
import * as fastifyAdapter from "../../src/adapters/fastify.js";
import * as honoAdapter from "../../src/adapters/hono.js";
import * as nodeAdapter from "../../src/adapters/node.js";
import type { Guard } from "../../src/guard.js";
import type { Requirement } from "../../src/requirements.js";

export const ADAPTERS = ["express", "fastify", "hono", "node"] as const;
export type AdapterName = (typeof ADAPTERS)[number];

/** The guard options every test app uses for public paths and roles. */
export const PUBLIC_PATHS = ["/auth/login", "/health", "/docs/*"];
export const KNOWN_ROLES = ["admin", "editor", "viewer"];

/** A running app: its base URL and how to stop it. */
export interface RunningApp {
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * The routes of every test app. Each protected route responds with the caller's claims, and
 * each public route with `{ public: true, auth }`, where `auth` must be null.
 */
const ROUTES: { path: string; requirement?: Requirement }[] = [
  { path: "/api/me" },
  { path: "/api/notes", requirement: { permissions: ["notes:read"] } },
  {
    path: "/api/notes/any",
    requirement: { permissions: ["notes:read", "notes:write"], mode: "any" },
  },
  { path: "/api/reports", requirement: { permissions: ["reports:read", "reports:export"] } },
  { path: "/api/admin", requirement: { roles: ["admin"] } },
  { path: "/api/staff", requirement: { roles: ["admin", "editor"], mode: "any" } },
];
const PUBLIC_ROUTES = ["/auth/login", "/health", "/docs/guide"];

function describeClaims(auth: AccessTokenClaims | null): Record<string, unknown> {
  if (auth === null) {
    return { error: "test_app_missing_claims" };
  }
  return { sub: auth.sub, roles: auth.roles, permissions: auth.permissions };
}

/** Starts the test app for one adapter on 127.0.0.1 with an ephemeral port. */
export function startApp(adapter: AdapterName, guard: Guard): Promise<RunningApp> {
  switch (adapter) {
    case "express":
      return startExpress(guard);
    case "fastify":
      return startFastify(guard);
    case "hono":
      return startHono(guard);
    case "node":
      return startNode(guard);
  }
}

/** Express: `sello(guard)` in front of everything, requirement middleware per route. */
async function startExpress(guard: Guard): Promise<RunningApp> {
  const { sello, requireRoles, requireAnyRole, requirePermissions, requireAnyPermission, getAuth } =
    expressAdapter;
  const app = express();
  app.use(sello(guard));

  const middleware: Record<string, express.RequestHandler> = {
    "/api/notes": requirePermissions(guard, "notes:read"),
    "/api/notes/any": requireAnyPermission(guard, "notes:read", "notes:write"),
    "/api/reports": requirePermissions(guard, "reports:read", "reports:export"),
    "/api/admin": requireRoles(guard, "admin"),
    "/api/staff": requireAnyRole(guard, "admin", "editor"),
  };
  for (const route of ROUTES) {
    const handlers =
      route.path in middleware ? [middleware[route.path] as express.RequestHandler] : [];
    app.get(route.path, ...handlers, (req, res) => {
      // Both views of the claims must agree: the typed getter and the request field.
      const auth = getAuth(req);
      const field = (req as expressAdapter.SelloRequest).auth;
      res.json(auth === field ? describeClaims(auth) : { error: "test_app_claims_differ" });
    });
  }
  for (const path of PUBLIC_ROUTES) {
    app.get(path, (req, res) => {
      res.json({ public: true, auth: (req as expressAdapter.SelloRequest).auth });
    });
  }

  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  return describeServer(server);
}

/**
 * Fastify: the plugin registered on the root instance, requirements given both ways: as
 * route config for some routes and as preHandler hooks for others.
 */
async function startFastify(guard: Guard): Promise<RunningApp> {
  const { sello, requireRoles, requireAnyRole, getAuth } = fastifyAdapter;
  const app = Fastify({ logger: false });
  await app.register(sello, { guard });

  for (const route of ROUTES) {
    if (route.path === "/api/admin" || route.path === "/api/staff") {
      continue;
    }
    const config: fastifyAdapter.SelloRouteConfig =
      route.requirement === undefined ? {} : { sello: route.requirement };
    app.get<{ Reply: Record<string, unknown> }, fastifyAdapter.SelloRouteConfig>(
      route.path,
      { config },
      async (request) => describeClaims(getAuth(request)),
    );
  }
  app.get("/api/admin", { preHandler: requireRoles(guard, "admin") }, async (request) =>
    describeClaims(getAuth(request)),
  );
  app.get("/api/staff", { preHandler: requireAnyRole(guard, "admin", "editor") }, async (request) =>
    describeClaims(getAuth(request)),
  );
  for (const path of PUBLIC_ROUTES) {
    app.get(path, async (request) => ({
      public: true,
      auth: (request as unknown as fastifyAdapter.SelloAuthFields).auth,
    }));
  }

  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/** Hono on @hono/node-server: `sello(guard)` on every path, requirement middleware per route. */
async function startHono(guard: Guard): Promise<RunningApp> {
  const { sello, requireRoles, requireAnyRole, requirePermissions, requireAnyPermission } =
    honoAdapter;
  const app = new Hono<honoAdapter.SelloEnv>();
  app.use("*", sello(guard));

  app.get("/api/me", (c) => c.json(describeClaims(c.get("auth"))));
  app.get("/api/notes", requirePermissions(guard, "notes:read"), (c) =>
    c.json(describeClaims(c.get("auth"))),
  );
  app.get("/api/notes/any", requireAnyPermission(guard, "notes:read", "notes:write"), (c) =>
    c.json(describeClaims(c.get("auth"))),
  );
  app.get("/api/reports", requirePermissions(guard, "reports:read", "reports:export"), (c) =>
    c.json(describeClaims(c.get("auth"))),
  );
  app.get("/api/admin", requireRoles(guard, "admin"), (c) => {
    // After a requirement middleware the variable is typed as non-null claims.
    const auth: AccessTokenClaims = c.get("auth");
    return c.json(describeClaims(auth));
  });
  app.get("/api/staff", requireAnyRole(guard, "admin", "editor"), (c) =>
    c.json(describeClaims(c.get("auth"))),
  );
  for (const path of PUBLIC_ROUTES) {
    app.get(path, (c) => c.json({ public: true, auth: c.get("auth") }));
  }

  const server = await new Promise<Server>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () =>
      resolve(started as Server),
    );
  });
  return describeServer(server);
}

/** node:http: one `withSello` around the dispatcher, and one per route with a requirement. */
async function startNode(guard: Guard): Promise<RunningApp> {
  const { withSello } = nodeAdapter;
  const sendJson = (res: ServerResponse, body: unknown) => {
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  };

  const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>();
  for (const route of ROUTES) {
    routes.set(
      route.path,
      withSello(guard, (_req, res, auth) => sendJson(res, describeClaims(auth)), route.requirement),
    );
  }
  for (const path of PUBLIC_ROUTES) {
    routes.set(path, async (_req, res) => sendJson(res, { public: true, auth: null }));
  }

  const server = createServer(
    withSello(guard, async (req, res, auth) => {
      const path = (req.url ?? "/").split("?")[0] as string;
      const route = routes.get(path);
      if (route === undefined) {
        res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not_found"}');
        return;
      }
      if (PUBLIC_ROUTES.includes(path)) {
        sendJson(res, { public: true, auth });
        return;
      }
      await route(req, res);
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return describeServer(server);
}

function describeServer(server: Server): RunningApp {
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
