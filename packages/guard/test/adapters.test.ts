import type { ErrorCode, SelloError } from "@sello/core";
import { generateKey, type SelloKey } from "@sello/core/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createGuard, type Guard } from "../src/guard.js";
import {
  ADAPTERS,
  type AdapterName,
  KNOWN_ROLES,
  PUBLIC_PATHS,
  type RunningApp,
  startApp,
} from "./helpers/apps.js";
import { fetchGet, type HttpResult, rawGet } from "./helpers/http.js";
import { JwksStub } from "./helpers/jwks-stub.js";
import { AUDIENCE, FrozenClock, ISSUER, TestRevocationFeed, TokenKit } from "./helpers/tokens.js";

/** One adapter app with everything behind it: JWKS stub, clock, revocation feed and guard. */
interface Stack {
  clock: FrozenClock;
  stub: JwksStub;
  feed: TestRevocationFeed;
  guard: Guard;
  app: RunningApp;
  kit: TokenKit;
  /** Errors passed to the guard's onError. */
  errors: SelloError[];
}

async function startStack(adapter: AdapterName, key: SelloKey): Promise<Stack> {
  const clock = new FrozenClock();
  const stub = await JwksStub.start([key]);
  const feed = new TestRevocationFeed(clock);
  const errors: SelloError[] = [];
  const guard = createGuard({
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ["ES256"],
    jwksUri: stub.url,
    revocation: feed,
    knownRoles: KNOWN_ROLES,
    publicPaths: PUBLIC_PATHS,
    clock: clock.read,
    onError: (error) => errors.push(error),
  });
  const app = await startApp(adapter, guard);
  return { clock, stub, feed, guard, app, kit: new TokenKit(key, clock), errors };
}

async function stopStack(stack: Stack | undefined): Promise<void> {
  await stack?.app.close();
  await stack?.stub.close();
}

const CHALLENGE = {
  missing: 'Bearer realm="api"',
  invalidRequest:
    'Bearer realm="api", error="invalid_request", error_description="The request is malformed."',
  invalidToken:
    'Bearer realm="api", error="invalid_token", error_description="The access token is invalid."',
  expired:
    'Bearer realm="api", error="invalid_token", error_description="The access token has expired."',
  revoked:
    'Bearer realm="api", error="invalid_token", error_description="The access token has been revoked."',
  insufficientScope:
    'Bearer realm="api", error="insufficient_scope", error_description="The access token does not grant the required roles or permissions."',
} as const;

interface Case {
  name: string;
  /** Default "/api/me". */
  path?: string | ((stack: Stack) => string);
  /** The Authorization header values to send; none when omitted. */
  authorization?: (stack: Stack) => string[];
  /** "raw" sends the path and headers exactly as given; fetch would normalise them. */
  client?: "raw";
  /** Changes the stack for this case; `afterEach` restores it. */
  arrange?: (stack: Stack) => void;
  status: number;
  error?: ErrorCode;
  challenge: string | null;
}

const bearer = (token: string) => [`Bearer ${token}`];
const valid = (stack: Stack) => stack.kit.issue().token;
const withAccess = (roles: unknown, permissions: unknown) => (stack: Stack) =>
  bearer(stack.kit.sign({}, { roles, permissions }));
const ok = { status: 200, challenge: null } as const;
const missing = { status: 401, error: "missing_token", challenge: CHALLENGE.missing } as const;
const malformed = {
  status: 400,
  error: "invalid_request",
  challenge: CHALLENGE.invalidRequest,
} as const;
const invalid = { status: 401, error: "invalid_token", challenge: CHALLENGE.invalidToken } as const;
const forbidden = {
  status: 403,
  error: "insufficient_permissions",
  challenge: CHALLENGE.insufficientScope,
} as const;
const unavailable = { status: 503, error: "service_unavailable", challenge: null } as const;

const BEARER_CASES: Case[] = [
  { name: "valid token", authorization: (s) => bearer(valid(s)), ...ok },
  { name: "lowercase scheme", authorization: (s) => [`bearer ${valid(s)}`], ...ok },
  { name: "uppercase scheme", authorization: (s) => [`BEARER ${valid(s)}`], ...ok },
  { name: "several spaces", authorization: (s) => [`Bearer    ${valid(s)}`], ...ok },
  { name: "no header", ...missing },
  { name: "another scheme", authorization: () => ["Basic dXNlcjpwYXNzd29yZA=="], ...missing },
  { name: "token without scheme", authorization: (s) => [valid(s)], ...malformed },
  { name: "empty value", authorization: () => [""], client: "raw", ...malformed },
  { name: "scheme without token", authorization: () => ["Bearer"], ...malformed },
  { name: "extra words", authorization: (s) => [`Bearer ${valid(s)} extra`], ...malformed },
  {
    name: "two header lines",
    authorization: (s) => [`Bearer ${valid(s)}`, `Bearer ${valid(s)}`],
    client: "raw",
    ...malformed,
  },
  {
    name: "two values joined by fetch",
    authorization: (s) => [`Bearer ${valid(s)}, Bearer ${valid(s)}`],
    ...malformed,
  },
  { name: "illegal token characters", authorization: () => ["Bearer abc!def,ghi"], ...malformed },
  {
    name: "token in query string",
    path: (s) => `/api/me?access_token=${valid(s)}`,
    ...missing,
  },
];

const TOKEN_CASES: Case[] = [
  {
    name: "expired token",
    authorization: (s) => bearer(s.kit.issue({}, { offsetSeconds: -3600 }).token),
    status: 401,
    error: "token_expired",
    challenge: CHALLENGE.expired,
  },
  {
    name: "not-yet-valid token",
    authorization: (s) => bearer(s.kit.sign({}, { nbf: Math.floor(s.clock.now / 1000) + 3600 })),
    ...invalid,
  },
  {
    name: "token issued in the future",
    authorization: (s) => bearer(s.kit.issue({}, { offsetSeconds: 3600 }).token),
    ...invalid,
  },
  {
    name: "wrong issuer",
    authorization: (s) => bearer(s.kit.issue({}, { issuer: "https://evil.example" }).token),
    ...invalid,
  },
  {
    name: "wrong audience",
    authorization: (s) => bearer(s.kit.issue({}, { audience: "billing-api" }).token),
    ...invalid,
  },
  {
    name: "revoked token",
    authorization: (s) => {
      const { token, claims } = s.kit.issue();
      s.feed.list.denyToken(claims.jti, claims.exp * 1000);
      return bearer(token);
    },
    status: 401,
    error: "token_revoked",
    challenge: CHALLENGE.revoked,
  },
  {
    name: "revoked session",
    authorization: (s) => {
      const { token } = s.kit.issue({ sessionId: "session-revoked" });
      s.feed.list.revokeSession("session-revoked", s.clock.now);
      return bearer(token);
    },
    status: 401,
    error: "token_revoked",
    challenge: CHALLENGE.revoked,
  },
  { name: "wrong type JWT", authorization: (s) => bearer(s.kit.sign({ typ: "JWT" })), ...invalid },
  {
    name: "refresh token type",
    authorization: (s) => bearer(s.kit.sign({ typ: "rt+jwt" })),
    ...invalid,
  },
  {
    name: "tampered payload",
    authorization: (s) => {
      const [header, , signature] = valid(s).split(".");
      const payload = Buffer.from(JSON.stringify({ sub: "admin" })).toString("base64url");
      return bearer(`${header}.${payload}.${signature}`);
    },
    ...invalid,
  },
  {
    name: "unsigned alg none",
    authorization: () => {
      const header = Buffer.from('{"alg":"none","typ":"at+jwt"}').toString("base64url");
      return bearer(`${header}.${Buffer.from("{}").toString("base64url")}.`);
    },
    ...invalid,
  },
  {
    name: "jku header ignored",
    authorization: (s) => bearer(s.kit.sign({ kid: "attacker-key", jku: `${s.stub.url}?evil` })),
    ...invalid,
  },
];

const ACCESS_CASES: Case[] = [
  {
    name: "permission granted",
    path: "/api/notes",
    authorization: withAccess([], ["notes:read"]),
    ...ok,
  },
  {
    name: "permission case differs",
    path: "/api/notes",
    authorization: withAccess([], ["Notes:Read"]),
    ...forbidden,
  },
  {
    name: "permissions empty",
    path: "/api/notes",
    authorization: withAccess([], []),
    ...forbidden,
  },
  {
    name: "permissions as string",
    path: "/api/notes",
    authorization: withAccess([], "notes:read"),
    ...invalid,
  },
  {
    name: "any permission, one held",
    path: "/api/notes/any",
    authorization: withAccess([], ["notes:write"]),
    ...ok,
  },
  {
    name: "any permission, none held",
    path: "/api/notes/any",
    authorization: withAccess([], ["notes:delete"]),
    ...forbidden,
  },
  {
    name: "all permissions, one missing",
    path: "/api/reports",
    authorization: withAccess([], ["reports:read"]),
    ...forbidden,
  },
  {
    name: "all permissions held",
    path: "/api/reports",
    authorization: withAccess([], ["reports:export", "reports:read"]),
    ...ok,
  },
  { name: "role granted", path: "/api/admin", authorization: withAccess(["admin"], []), ...ok },
  {
    name: "role case differs",
    path: "/api/admin",
    authorization: withAccess(["Admin"], []),
    ...forbidden,
  },
  {
    name: "roles as string",
    path: "/api/admin",
    authorization: withAccess("admin", []),
    ...invalid,
  },
  { name: "roles empty", path: "/api/admin", authorization: withAccess([], []), ...forbidden },
  {
    name: "permission named like role",
    path: "/api/admin",
    authorization: withAccess([], ["admin"]),
    ...forbidden,
  },
  {
    name: "other role",
    path: "/api/admin",
    authorization: withAccess(["editor"], []),
    ...forbidden,
  },
  {
    name: "any role, one held",
    path: "/api/staff",
    authorization: withAccess(["editor"], []),
    ...ok,
  },
  {
    name: "unknown role only",
    path: "/api/staff",
    authorization: withAccess(["superuser"], ["notes:read"]),
    ...forbidden,
  },
  {
    name: "unknown and lesser roles",
    path: "/api/staff",
    authorization: withAccess(["superuser", "viewer"], []),
    ...forbidden,
  },
  { name: "requirement without token", path: "/api/admin", ...missing },
];

/** Public-path cases use the raw client, because fetch would normalise these paths. */
const PATH_CASES: Case[] = [
  { name: "public path", path: "/auth/login", client: "raw", ...ok },
  { name: "public path with query", path: "/auth/login?next=/api/admin", client: "raw", ...ok },
  { name: "public prefix", path: "/docs/guide", client: "raw", ...ok },
  { name: "exact public path", path: "/health", client: "raw", ...ok },
  { name: "matrix parameter escape", path: "/api/admin;/auth/login", client: "raw", ...missing },
  { name: "dot-dot after public", path: "/auth/login/../api/admin", client: "raw", ...missing },
  { name: "dot-dot after prefix", path: "/docs/../api/admin", client: "raw", ...missing },
  { name: "empty first segment", path: "//auth/login", client: "raw", ...missing },
  { name: "encoded slash", path: "/auth/login%2f..%2fapi/admin", client: "raw", ...missing },
  {
    name: "encoded slash uppercase",
    path: "/auth/login%2F..%2Fapi%2Fadmin",
    client: "raw",
    ...missing,
  },
  {
    name: "encoded dot segments",
    path: "/auth/login/%2e%2e/%2e%2e/api/admin",
    client: "raw",
    ...missing,
  },
  { name: "upper-case path", path: "/AUTH/login", client: "raw", ...missing },
  { name: "double-encoded letter", path: "/auth/%256cogin", client: "raw", ...missing },
  {
    name: "double-encoded slash",
    path: "/auth/login%252f..%252fapi%252fadmin",
    client: "raw",
    ...missing,
  },
  { name: "matrix parameter", path: "/auth/login;jsessionid=1", client: "raw", ...missing },
  { name: "trailing slash", path: "/auth/login/", client: "raw", ...missing },
  { name: "encoded NUL", path: "/auth/login%00", client: "raw", ...missing },
  { name: "unknown route", path: "/api/unknown", client: "raw", ...missing },
];

const INFRASTRUCTURE_CASES: Case[] = [
  {
    name: "revocation feed stale",
    authorization: (s) => bearer(valid(s)),
    arrange: (s) => {
      s.feed.syncedAt = s.clock.now - 31_000;
    },
    ...unavailable,
  },
  {
    name: "revocation feed at the bound",
    authorization: (s) => bearer(valid(s)),
    arrange: (s) => {
      s.feed.syncedAt = s.clock.now - 30_000;
    },
    ...ok,
  },
  {
    name: "revocation source failing",
    authorization: (s) => bearer(valid(s)),
    arrange: (s) => {
      s.feed.failure = new Error("connection refused");
    },
    ...unavailable,
  },
];

const CASES: Case[] = [
  ...BEARER_CASES,
  ...TOKEN_CASES,
  ...ACCESS_CASES,
  ...PATH_CASES,
  ...INFRASTRUCTURE_CASES,
];

function resolvePath(stack: Stack, testCase: Case): string {
  const path = testCase.path ?? "/api/me";
  return typeof path === "function" ? path(stack) : path;
}

async function send(stack: Stack, testCase: Case): Promise<HttpResult> {
  const path = resolvePath(stack, testCase);
  const authorization = testCase.authorization?.(stack) ?? [];
  if (testCase.client === "raw") {
    return rawGet(stack.app.baseUrl, path, authorization);
  }
  expect(authorization.length).toBeLessThanOrEqual(1);
  return fetchGet(stack.app.baseUrl, path, authorization[0]);
}

/** Checks status, error code and challenge, plus the body of a successful response. */
function expectOutcome(result: HttpResult, expected: Omit<Case, "name">, path: string): void {
  expect(result.status).toBe(expected.status);
  expect(result.challenge).toBe(expected.challenge);
  if (expected.status === 503) {
    expect(result.retryAfter).toBe("5");
  }
  if (expected.error !== undefined) {
    expect(result.body.error).toBe(expected.error);
    return;
  }
  if (path.startsWith("/api/")) {
    expect(result.body.sub).toBe("user-1");
  } else {
    expect(result.body).toEqual({ public: true, auth: null });
  }
}

let signingKey: SelloKey;

beforeAll(() => {
  signingKey = generateKey("ES256");
});

describe.each(ADAPTERS)("%s adapter", (adapter) => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack(adapter, signingKey);
  });

  afterEach(() => {
    stack.feed.syncedAt = undefined;
    stack.feed.failure = undefined;
  });

  afterAll(async () => {
    await stopStack(stack);
  });

  it.each(CASES)("$name", async (testCase) => {
    testCase.arrange?.(stack);
    const result = await send(stack, testCase);
    expectOutcome(result, testCase, resolvePath(stack, testCase));
  });

  it("jku header never fetched", async () => {
    await send(stack, TOKEN_CASES.find((entry) => entry.name === "jku header ignored") as Case);
    expect(stack.stub.paths.filter((path) => path !== "/jwks.json")).toEqual([]);
  });

  it("onError receives rejections", async () => {
    stack.errors.length = 0;
    await fetchGet(stack.app.baseUrl, "/api/me", "Bearer abc!def");
    expect(stack.errors.map((error) => error.reason)).toEqual(["not_token68"]);
  });

  describe("remote JWKS", () => {
    let jwksStack: Stack | undefined;

    afterEach(async () => {
      await stopStack(jwksStack);
      jwksStack = undefined;
    });

    it("rotation picked up with one fetch", async () => {
      jwksStack = await startStack(adapter, signingKey);
      const s = jwksStack;
      expectOutcome(await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${valid(s)}`), ok, "/api/me");
      expect(s.stub.fetches).toBe(1);

      const nextKey = generateKey("ES256");
      s.stub.keys = [signingKey, nextKey];
      s.clock.advance(31);
      const rotated = new TokenKit(nextKey, s.clock).issue().token;
      expectOutcome(await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${rotated}`), ok, "/api/me");
      expect(s.stub.fetches).toBe(2);

      expectOutcome(await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${valid(s)}`), ok, "/api/me");
      expectOutcome(await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${rotated}`), ok, "/api/me");
      expect(s.stub.fetches).toBe(2);
    });

    it("malformed unknown-kid token fetches nothing", async () => {
      jwksStack = await startStack(adapter, signingKey);
      const s = jwksStack;
      const result = await fetchGet(
        s.app.baseUrl,
        "/api/me",
        `Bearer ${s.kit.signWithRandomKid()}!`,
      );
      expect(result.status).toBe(400);
      expect(result.body.error).toBe("invalid_request");
      expect(s.errors.map((error) => error.reason)).toEqual(["not_token68"]);
      expect(s.stub.fetches).toBe(0);
    });

    it("random kids fetch once per cooldown", async () => {
      jwksStack = await startStack(adapter, signingKey);
      const s = jwksStack;
      expectOutcome(await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${valid(s)}`), ok, "/api/me");
      const fetchesBefore = s.stub.fetches;
      const startedAt = s.clock.now;

      // 1,000 requests in 20 rounds of 50 concurrent ones, with the clock 2 s further each
      // round: 38 s in all, which spans two 30 s cooldown windows.
      const statuses = new Map<number, number>();
      for (let round = 0; round < 20; round++) {
        const results = await Promise.all(
          Array.from({ length: 50 }, () =>
            fetchGet(s.app.baseUrl, "/api/me", `Bearer ${s.kit.signWithRandomKid()}`),
          ),
        );
        for (const result of results) {
          statuses.set(result.status, (statuses.get(result.status) ?? 0) + 1);
          expect(result.body.error).toBe("invalid_token");
          expect(result.challenge).toBe(CHALLENGE.invalidToken);
        }
        s.clock.advance(2);
      }

      expect(statuses).toEqual(new Map([[401, 1000]]));
      const elapsedSeconds = (s.clock.now - startedAt) / 1000;
      expect(s.stub.fetches - fetchesBefore).toBeLessThanOrEqual(Math.ceil(elapsedSeconds / 30));

      // The cached key still verifies, and no fetch was needed for it.
      const fetchesAfterFlood = s.stub.fetches;
      expectOutcome(await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${valid(s)}`), ok, "/api/me");
      expect(s.stub.fetches).toBe(fetchesAfterFlood);

      // A key asked for before it was published works once the cooldown has passed.
      const newKey = generateKey("ES256");
      const early = new TokenKit(newKey, s.clock).issue().token;
      const beforePublish = await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${early}`);
      expectOutcome(beforePublish, invalid, "/api/me");
      s.stub.keys = [signingKey, newKey];
      s.clock.advance(31);
      const fetchesBeforeNewKey = s.stub.fetches;
      const afterPublish = await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${early}`);
      expectOutcome(afterPublish, ok, "/api/me");
      expect(s.stub.fetches).toBe(fetchesBeforeNewKey + 1);
    });

    it("JWKS down gives 503, then recovers", async () => {
      jwksStack = await startStack(adapter, signingKey);
      const s = jwksStack;
      s.stub.mode = "down";

      expectOutcome(
        await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${valid(s)}`),
        unavailable,
        "/api/me",
      );
      expect(s.stub.fetches).toBe(1);
      expect(s.errors.at(-1)?.reason).toBe("jwks_http_status");

      // Within the cooldown the guard responds with 503 without fetching again.
      s.clock.advance(10);
      expectOutcome(
        await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${valid(s)}`),
        unavailable,
        "/api/me",
      );
      expect(s.stub.fetches).toBe(1);

      s.stub.mode = "up";
      s.clock.advance(21);
      expectOutcome(await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${valid(s)}`), ok, "/api/me");
      expect(s.stub.fetches).toBe(2);
    });

    it("cached keys decide while JWKS down", async () => {
      jwksStack = await startStack(adapter, signingKey);
      const s = jwksStack;
      expectOutcome(await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${valid(s)}`), ok, "/api/me");

      s.stub.mode = "reset";
      s.clock.advance(31);
      expectOutcome(await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${valid(s)}`), ok, "/api/me");

      // A kid the cache does not contain might be genuine, so it is a 503, never a 401.
      const unknown = s.kit.signWithRandomKid();
      expectOutcome(
        await fetchGet(s.app.baseUrl, "/api/me", `Bearer ${unknown}`),
        unavailable,
        "/api/me",
      );
      expect(s.stub.fetches).toBe(2);
    });
  });
});
