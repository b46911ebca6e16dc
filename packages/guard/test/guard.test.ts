import {
  type AccessTokenClaims,
  RevocationList,
  type RevocationSource,
  SelloError,
} from "@sello/core";
import { createKeySet, generateKey, KeyRing, type SelloKey } from "@sello/core/node";
import Fastify from "fastify";
import { beforeAll, describe, expect, it } from "vitest";
import * as expressAdapter from "../src/adapters/express.js";
import * as fastifyAdapter from "../src/adapters/fastify.js";
import * as honoAdapter from "../src/adapters/hono.js";
import * as nodeAdapter from "../src/adapters/node.js";
import { createGuard, type Guard, type GuardOptions } from "../src/guard.js";
import { RemoteJwksSource } from "../src/jwks-source.js";
import { AUDIENCE, FrozenClock, ISSUER, TestRevocationFeed, TokenKit } from "./helpers/tokens.js";

let key: SelloKey;

beforeAll(() => {
  key = generateKey("ES256");
});

function baseOptions(overrides: Partial<GuardOptions> = {}): GuardOptions {
  return {
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ["ES256"],
    keys: createKeySet([key]),
    revocation: false,
    ...overrides,
  };
}

/** Options with one member removed, to test that it is required. */
function without(name: keyof GuardOptions): GuardOptions {
  const options: Partial<GuardOptions> = baseOptions();
  delete options[name];
  return options as GuardOptions;
}

async function rejection(promise: Promise<unknown>): Promise<SelloError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SelloError);
  return error as SelloError;
}

describe("createGuard options", () => {
  const invalid: [name: string, build: () => GuardOptions, fragment: string][] = [
    ["no options", () => undefined as unknown as GuardOptions, "needs an options object"],
    ["missing issuer", () => without("issuer"), "createGuard needs issuer"],
    ["empty issuer", () => baseOptions({ issuer: "" }), "issuer is required"],
    ["missing audience", () => without("audience"), "createGuard needs audience"],
    ["empty audience list", () => baseOptions({ audience: [] }), "audience is required"],
    ["missing algorithms", () => without("algorithms"), "createGuard needs algorithms"],
    ["empty algorithms", () => baseOptions({ algorithms: [] }), "algorithms is required"],
    [
      "algorithm none",
      () => baseOptions({ algorithms: ["none" as "ES256"] }),
      'unsupported value "none"',
    ],
    ["missing revocation", () => without("revocation"), "createGuard needs revocation"],
    [
      "revocation without isRevoked",
      () => baseOptions({ revocation: {} as RevocationSource }),
      "revocation must be a source",
    ],
    [
      "revocation null",
      () => baseOptions({ revocation: null as unknown as false }),
      "revocation must be a source",
    ],
    ["neither keys nor jwksUri", () => without("keys"), "needs keys"],
    [
      "keys and jwksUri",
      () => baseOptions({ jwksUri: "https://auth.example.com/jwks" }),
      "either keys or jwksUri, not both",
    ],
    ["keys not a source", () => baseOptions({ keys: {} as never }), "keys is required"],
    [
      "plain http JWKS",
      () => baseOptions({ keys: undefined, jwksUri: "http://auth.example.com/jwks" }),
      "jwksUri must use https",
    ],
    [
      "private-range JWKS over http",
      () => baseOptions({ keys: undefined, jwksUri: "http://192.168.1.10/jwks" }),
      "jwksUri must use https",
    ],
    [
      "JWKS with credentials",
      () => baseOptions({ keys: undefined, jwksUri: "https://a:b@auth.example.com/jwks" }),
      "jwksUri must not contain credentials",
    ],
    [
      "JWKS URL not a string",
      () => baseOptions({ keys: undefined, jwksUri: 42 as unknown as string }),
      "jwksUri must be a URL string",
    ],
    [
      "JWKS with HS256 only",
      () =>
        baseOptions({
          keys: undefined,
          jwksUri: "https://auth.example.com/jwks",
          algorithms: ["HS256"],
        }),
      "A JWKS publishes only public keys",
    ],
    [
      "JWKS timeout zero",
      () =>
        baseOptions({ keys: undefined, jwksUri: "https://auth.example.com/jwks", jwksTimeout: 0 }),
      "jwksTimeout must be more than 0",
    ],
    [
      "JWKS cooldown above max age",
      () =>
        baseOptions({
          keys: undefined,
          jwksUri: "https://auth.example.com/jwks",
          jwksCooldown: "5m",
          jwksMaxAge: "2m",
        }),
      "jwksCooldown (300 s) must not exceed jwksMaxAge (120 s)",
    ],
    [
      "JWKS option with keys",
      () => baseOptions({ jwksMaxAge: 60 }),
      "jwksMaxAge applies only with jwksUri",
    ],
    ["fetch with keys", () => baseOptions({ fetch }), "fetch applies only with jwksUri"],
    [
      "staleness without revocation",
      () => baseOptions({ revocationMaxStaleness: 10 }),
      "revocationMaxStaleness has no effect",
    ],
    [
      "staleness zero",
      () =>
        baseOptions({
          revocation: new RevocationList({ retentionSeconds: 60 }),
          revocationMaxStaleness: 0,
        }),
      "revocationMaxStaleness must be more than 0",
    ],
    ["clock tolerance too wide", () => baseOptions({ clockTolerance: 120 }), "at most 60 seconds"],
    ["cache of zero entries", () => baseOptions({ cache: { maxEntries: 0 } }), "cache.maxEntries"],
    [
      "knownRoles not an array",
      () => baseOptions({ knownRoles: "admin" as unknown as string[] }),
      "knownRoles must be an array",
    ],
    [
      "knownRoles with empty name",
      () => baseOptions({ knownRoles: [""] }),
      "knownRoles must be an array",
    ],
    [
      "public path everything",
      () => baseOptions({ publicPaths: ["/*"] }),
      "would make every path public",
    ],
    [
      "public path relative",
      () => baseOptions({ publicPaths: ["health"] }),
      "must be a string starting with /",
    ],
    ["realm with quote", () => baseOptions({ realm: 'a"b' }), "realm must be"],
    [
      "clock not a function",
      () => baseOptions({ clock: 5 as unknown as () => number }),
      "clock must be a function",
    ],
    [
      "onError not a function",
      () => baseOptions({ onError: 1 as never }),
      "onError must be a function",
    ],
    [
      "misspelled option",
      () => ({ ...baseOptions(), jwksUrl: "https://x" }) as GuardOptions,
      'createGuard has no option "jwksUrl"',
    ],
  ];

  it.each(invalid)("%s is a TypeError", (_name, build, fragment) => {
    expect(() => createGuard(build())).toThrow(TypeError);
    expect(() => createGuard(build())).toThrow(fragment);
  });

  it.each([
    "https://auth.example.com/.well-known/jwks.json",
    "http://localhost:3000/jwks.json",
    "http://127.0.0.1:3000/jwks.json",
    "http://[::1]:3000/jwks.json",
  ])("accepts jwksUri %s without fetching", (jwksUri) => {
    let calls = 0;
    const guard = createGuard(
      baseOptions({
        keys: undefined,
        jwksUri,
        fetch: async () => {
          calls++;
          return new Response("{}");
        },
      }),
    );
    expect(guard.keys).toBeInstanceOf(RemoteJwksSource);
    expect(calls).toBe(0);
  });

  it("keeps the server's option set", () => {
    const clock = new FrozenClock();
    const ring = new KeyRing([{ key, state: "current", createdAt: clock.now }], {
      clock: clock.read,
    });
    const guard = createGuard({
      issuer: ISSUER,
      audience: [AUDIENCE],
      algorithms: ["ES256"],
      keys: ring,
      revocation: new RevocationList({ retentionSeconds: 605, clock: clock.read }),
      clockTolerance: 5,
      knownRoles: ["admin", "editor", "viewer"],
      realm: "sello",
      clock: clock.read,
    });
    expect(guard.realm).toBe("sello");
    expect(guard.keys).toBe(ring);
  });
});

describe("guard verification", () => {
  it("caches verifications by default", async () => {
    const clock = new FrozenClock();
    const kit = new TokenKit(key, clock);
    const { token } = kit.issue();

    // The cache stores a token on its second verification, so the third is a hit.
    const cached = createGuard(baseOptions({ clock: clock.read }));
    await cached.verify(token);
    const stored = await cached.verify(token);
    expect(await cached.verify(token)).toBe(stored);

    const uncached = createGuard(baseOptions({ clock: clock.read, cache: false }));
    expect(await uncached.verify(token)).not.toBe(await uncached.verify(token));
  });

  it("checks revocation on cache hits", async () => {
    const clock = new FrozenClock();
    const feed = new TestRevocationFeed(clock);
    const guard = createGuard(baseOptions({ clock: clock.read, revocation: feed }));
    const { token, claims } = new TokenKit(key, clock).issue();

    await guard.verify(token);
    feed.list.denyToken(claims.jti, claims.exp * 1000);
    expect((await rejection(guard.verify(token))).code).toBe("token_revoked");
  });

  it("accepts revoked tokens with revocation false", async () => {
    const clock = new FrozenClock();
    const guard = createGuard(baseOptions({ clock: clock.read, revocation: false }));
    const { token } = new TokenKit(key, clock).issue();
    await expect(guard.verify(token)).resolves.toMatchObject({ sub: "user-1" });
  });

  it("never echoes the token in errors", async () => {
    const clock = new FrozenClock();
    const guard = createGuard(baseOptions({ clock: clock.read }));
    const token = new TokenKit(key, clock).issue({}, { issuer: "https://other.example" }).token;

    const error = await rejection(guard.authenticate([`Bearer ${token}`]));
    expect(error.message).not.toContain(token);
    expect(JSON.stringify(guard.toErrorResponse(error))).not.toContain(token.slice(0, 20));
  });

  it("key source errors become internal_error", async () => {
    const clock = new FrozenClock();
    const errors: SelloError[] = [];
    const failure = new Error("key store offline");
    const guard = createGuard(
      baseOptions({
        clock: clock.read,
        keys: {
          getKey: () => {
            throw failure;
          },
          getOnlyKey: () => undefined,
        },
        onError: (error) => errors.push(error),
      }),
    );
    const token = new TokenKit(key, clock).issue().token;

    const result = await guard.handle({ authorization: [`Bearer ${token}`] });
    expect(result.ok).toBe(false);
    expect(result.ok ? undefined : result.response.status).toBe(500);
    expect(errors[0]?.code).toBe("internal_error");
    expect(errors[0]?.cause).toBe(failure);
  });

  it("failing onError leaves the response", async () => {
    const guard = createGuard(
      baseOptions({
        onError: () => {
          throw new Error("logger down");
        },
      }),
    );
    const result = await guard.handle({ authorization: [] });
    expect(result.ok ? undefined : result.response.status).toBe(401);
  });
});

describe("revocation staleness", () => {
  function setup(maxStaleness?: number | string) {
    const clock = new FrozenClock();
    const feed = new TestRevocationFeed(clock);
    const guard = createGuard(
      baseOptions({
        clock: clock.read,
        revocation: feed,
        ...(maxStaleness === undefined ? {} : { revocationMaxStaleness: maxStaleness }),
      }),
    );
    return { clock, feed, guard, token: new TokenKit(key, clock).issue().token };
  }

  it("default bound is 30 seconds", async () => {
    const { clock, feed, guard, token } = setup();

    feed.syncedAt = clock.now - 30_000;
    await expect(guard.verify(token)).resolves.toMatchObject({ sub: "user-1" });

    feed.syncedAt = clock.now - 30_001;
    const error = await rejection(guard.verify(token));
    expect(error.code).toBe("service_unavailable");
    expect(error.reason).toBe("revocation_stale");
  });

  it("configured bound in minutes", async () => {
    const { clock, feed, guard, token } = setup("2m");

    feed.syncedAt = clock.now - 119_000;
    await expect(guard.verify(token)).resolves.toMatchObject({ sub: "user-1" });

    feed.syncedAt = clock.now - 121_000;
    expect((await rejection(guard.verify(token))).reason).toBe("revocation_stale");
  });

  it("never synced fails closed", async () => {
    const clock = new FrozenClock();
    const source = { isRevoked: () => false, lastSyncedAt: () => undefined };
    const guard = createGuard(baseOptions({ clock: clock.read, revocation: source }));
    const token = new TokenKit(key, clock).issue().token;

    const error = await rejection(guard.verify(token));
    expect(error.code).toBe("service_unavailable");
    expect(error.reason).toBe("revocation_never_synced");
  });

  it("source without lastSyncedAt never goes stale", async () => {
    const clock = new FrozenClock();
    const list = new RevocationList({ retentionSeconds: 60, clock: clock.read });
    const guard = createGuard(baseOptions({ clock: clock.read, revocation: list }));
    const token = new TokenKit(key, clock).issue().token;

    clock.advance(300);
    await expect(guard.verify(token)).resolves.toMatchObject({ sub: "user-1" });
  });

  it.each([
    [
      "throws an Error",
      () => {
        throw new Error("redis down");
      },
      "revocation_failed",
    ],
    ["returns a Promise", () => Promise.resolve(false), "revocation_result_invalid"],
    ["returns undefined", () => undefined, "revocation_result_invalid"],
  ])("source that %s gives 503", async (_name, isRevoked, reason) => {
    const clock = new FrozenClock();
    const source = { isRevoked } as unknown as RevocationSource;
    const guard = createGuard(baseOptions({ clock: clock.read, revocation: source }));
    const token = new TokenKit(key, clock).issue().token;

    const result = await guard.handle({ authorization: [`Bearer ${token}`] });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.response.status).toBe(503);
      expect(result.error.reason).toBe(reason);
      expect(result.response.headers["www-authenticate"]).toBeUndefined();
    }
  });
});

describe("requirements", () => {
  const claims = (roles: string[], permissions: string[]) =>
    ({ roles, permissions }) as unknown as AccessTokenClaims;

  const invalid: [name: string, requirement: unknown, fragment: string][] = [
    ["empty object", {}, "lists no roles and no permissions"],
    ["empty roles", { roles: [] }, "lists no roles and no permissions"],
    [
      "both empty",
      { roles: [], permissions: [], mode: "any" },
      "lists no roles and no permissions",
    ],
    ["roles as string", { roles: "admin" }, "roles must be an array of non-empty strings"],
    ["empty permission name", { permissions: [""] }, "permissions must be an array"],
    ["unknown mode", { roles: ["admin"], mode: "some" }, 'mode must be "all" or "any"'],
    ["null", null, "A requirement must be an object"],
    ["role outside knownRoles", { roles: ["ghost"] }, 'required roles ["ghost"] are not in'],
  ];

  it.each(invalid)("%s is a TypeError", (_name, requirement, fragment) => {
    const guard = createGuard(baseOptions({ knownRoles: ["admin", "editor"] }));
    expect(() => guard.checkRequirement(requirement as never)).toThrow(TypeError);
    expect(() => guard.checkRequirement(requirement as never)).toThrow(fragment);
  });

  it("all and any modes", () => {
    const guard = createGuard(baseOptions());
    const all = { permissions: ["a", "b"] };
    const any = { permissions: ["a", "b"], mode: "any" as const };

    expect(() => guard.authorize(claims([], ["a", "b"]), all)).not.toThrow();
    expect(() => guard.authorize(claims([], ["a"]), all)).toThrow("does not grant");
    expect(() => guard.authorize(claims([], ["b"]), any)).not.toThrow();
    expect(() => guard.authorize(claims([], ["c"]), any)).toThrow("does not grant");
  });

  it("mixes roles and permissions", () => {
    const guard = createGuard(baseOptions());
    const requirement = { roles: ["editor"], permissions: ["notes:write"] };

    expect(() => guard.authorize(claims(["editor"], ["notes:write"]), requirement)).not.toThrow();
    expect(() => guard.authorize(claims(["editor"], []), requirement)).toThrow();
    expect(() =>
      guard.authorize(claims([], ["notes:write"]), { ...requirement, mode: "any" }),
    ).not.toThrow();
  });

  it("unknown roles grant nothing", () => {
    const open = createGuard(baseOptions());
    expect(() => open.authorize(claims(["ghost"], []), { roles: ["ghost"] })).not.toThrow();

    const strict = createGuard(baseOptions({ knownRoles: ["admin"] }));
    expect(() => strict.authorize(claims(["ghost"], []), { roles: ["ghost"] })).toThrow(TypeError);
    expect(() => strict.authorize(claims(["ghost", "Admin"], []), { roles: ["admin"] })).toThrow(
      SelloError,
    );
  });

  it("returns a frozen copy", () => {
    const guard = createGuard(baseOptions());
    const roles = ["admin"];
    const checked = guard.checkRequirement({ roles });
    roles.push("editor");

    expect(checked.roles).toEqual(["admin"]);
    expect(checked.mode).toBe("all");
    expect(Object.isFrozen(checked)).toBe(true);
  });
});

describe("adapter construction", () => {
  let guard: Guard;

  beforeAll(() => {
    guard = createGuard(baseOptions({ knownRoles: ["admin"] }));
  });

  it.each([
    ["express requireRoles", () => expressAdapter.requireRoles(guard)],
    ["express requireAnyPermission", () => expressAdapter.requireAnyPermission(guard)],
    ["express sello", () => expressAdapter.sello(guard, { roles: [] })],
    ["fastify requirePermissions", () => fastifyAdapter.requirePermissions(guard)],
    ["fastify requireAnyRole", () => fastifyAdapter.requireAnyRole(guard)],
    ["hono requireRoles", () => honoAdapter.requireRoles(guard)],
    ["hono requireAnyPermission", () => honoAdapter.requireAnyPermission(guard)],
    ["node withSello", () => nodeAdapter.withSello(guard, () => undefined, { permissions: [] })],
  ])("%s with no names throws", (_name, build) => {
    expect(build).toThrow(TypeError);
    expect(build).toThrow("lists no roles and no permissions");
  });

  it.each([
    ["express sello", (value: unknown) => expressAdapter.sello(value as Guard)],
    [
      "express requireRoles",
      (value: unknown) => expressAdapter.requireRoles(value as Guard, "admin"),
    ],
    ["hono sello", (value: unknown) => honoAdapter.sello(value as Guard)],
    ["node withSello", (value: unknown) => nodeAdapter.withSello(value as Guard, () => undefined)],
  ])("%s rejects options in place of a guard", (_name, build) => {
    expect(() => build({ guard })).toThrow("Pass the guard itself, as in sello(guard)");
    expect(() => build(undefined)).toThrow("expects the guard that createGuard returns");
  });

  it("unknown role throws at construction", () => {
    expect(() => expressAdapter.requireRoles(guard, "superuser")).toThrow(TypeError);
    expect(() => honoAdapter.requireAnyRole(guard, "superuser")).toThrow(TypeError);
  });

  it("fastify route config checked at start-up", async () => {
    const app = Fastify({ logger: false });
    await app.register(fastifyAdapter.sello, { guard });
    expect(() =>
      app.get("/bad", { config: { sello: { permissions: [] } } as object }, async () => "never"),
    ).toThrow(TypeError);
    await app.close();
  });

  it("fastify plugin needs a guard", async () => {
    const app = Fastify({ logger: false });
    app.register(fastifyAdapter.sello, {} as fastifyAdapter.SelloPluginOptions);
    await expect(app.ready()).rejects.toThrow("Register the sello plugin with { guard");
    await app.close();
  });

  it("fastify plugin scoped to a prefix", async () => {
    const app = Fastify({ logger: false });
    app.get("/open", async () => ({ open: true }));
    await app.register(
      async (api) => {
        await api.register(fastifyAdapter.sello, { guard });
        api.get("/me", async (request) => ({ sub: fastifyAdapter.getAuth(request)?.sub }));
      },
      { prefix: "/api" },
    );

    const open = await app.inject({ method: "GET", url: "/open" });
    const closed = await app.inject({ method: "GET", url: "/api/me" });
    expect(open.statusCode).toBe(200);
    expect(closed.statusCode).toBe(401);
    expect(closed.headers["www-authenticate"]).toBe('Bearer realm="api"');
    await app.close();
  });

  it("node handler errors become 500", async () => {
    const errors: SelloError[] = [];
    const local = createGuard(
      baseOptions({ publicPaths: ["/boom"], onError: (e) => errors.push(e) }),
    );
    const handler = nodeAdapter.withSello(local, () => {
      throw new Error("handler bug");
    });

    const { createServer } = await import("node:http");
    const server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as import("node:net").AddressInfo;
    try {
      const response = await fetch(`http://127.0.0.1:${port}/boom`);
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({
        error: "internal_error",
        message: "An unexpected error occurred.",
      });
      expect(errors[0]?.code).toBe("internal_error");
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
