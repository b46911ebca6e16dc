import type { AccessTokenClaims } from "@sello/core";
import { SelloError } from "@sello/core";
import type { Guard } from "@sello/guard";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { RequestOrigin } from "../audit.js";
import type { AuthService, SessionTokens } from "../auth-service.js";
import { routeDoc } from "../http/route-docs.js";
import { authorizationValues, checkCsrf } from "../http/security.js";

export interface AuthRoutesOptions {
  auth: AuthService;
  guard: Guard;
  cookieName: string;
  cookieSecure: boolean;
  allowedOrigins: ReadonlySet<string>;
  registrationOpen: boolean;
  clock: () => number;
}

/** The path every refresh cookie is scoped to, so the browser sends it to /auth/* only. */
export const REFRESH_COOKIE_PATH = "/auth";

const username = { type: "string", minLength: 1, maxLength: 256 } as const;
const password = { type: "string", minLength: 1, maxLength: 4096 } as const;

const loginSchema = {
  body: {
    type: "object",
    required: ["username", "password"],
    additionalProperties: false,
    properties: {
      username,
      password,
      refresh_token_delivery: { type: "string", enum: ["cookie", "body"] },
    },
  },
} as const;

// A refresh token has 43 characters. The bound only keeps absurd values out: an access token sent
// here by mistake must still reach the shape check and get invalid_refresh_token.
const refreshSchema = {
  body: {
    type: ["object", "null"],
    additionalProperties: false,
    properties: { refresh_token: { type: "string", maxLength: 16_384 } },
  },
} as const;

const passwordSchema = {
  body: {
    type: "object",
    required: ["current_password", "new_password"],
    additionalProperties: false,
    properties: { current_password: password, new_password: password },
  },
} as const;

const registerSchema = {
  body: {
    type: "object",
    required: ["username", "password"],
    additionalProperties: false,
    properties: { username, password },
  },
} as const;

const revokeSchema = {
  body: {
    type: "object",
    required: ["token"],
    additionalProperties: false,
    properties: {
      token: { type: "string", minLength: 1, maxLength: 16_384 },
      token_type_hint: { type: "string", maxLength: 64 },
    },
  },
} as const;

interface LoginBody {
  username: string;
  password: string;
  refresh_token_delivery?: "cookie" | "body";
}

/** Returns the client address and user agent for limits and audit. `request.ip` honours SELLO_TRUST_PROXY. */
export function originOf(request: FastifyRequest): RequestOrigin {
  const userAgent = request.headers["user-agent"];
  return { ip: request.ip ?? null, userAgent: typeof userAgent === "string" ? userAgent : null };
}

/** Registers /auth/login, refresh, logout, logout-all, me, password, register and revoke. */
export async function authRoutes(app: FastifyInstance, options: AuthRoutesOptions): Promise<void> {
  const { auth, guard } = options;

  // Token responses must never be cached (RFC 6749 section 5.1).
  app.addHook("onSend", async (_request, reply) => {
    reply.header("cache-control", "no-store");
    reply.header("pragma", "no-cache");
  });

  async function requireBearer(request: FastifyRequest): Promise<AccessTokenClaims> {
    return guard.authenticate(authorizationValues(request));
  }

  function sendTokens(reply: FastifyReply, tokens: SessionTokens, delivery: "cookie" | "body") {
    const refreshExpiresIn = Math.max(
      0,
      Math.floor((tokens.refreshExpiresAt - options.clock()) / 1000),
    );
    const body: Record<string, unknown> = {
      access_token: tokens.accessToken.token,
      token_type: "Bearer",
      expires_in: tokens.accessToken.expiresIn,
      user: tokens.user,
    };
    if (delivery === "body") {
      body.refresh_token = tokens.refreshToken;
      body.refresh_token_expires_in = refreshExpiresIn;
    } else {
      reply.setCookie(options.cookieName, tokens.refreshToken, {
        httpOnly: true,
        secure: options.cookieSecure,
        sameSite: "strict",
        path: REFRESH_COOKIE_PATH,
        maxAge: refreshExpiresIn,
      });
    }
    return reply.code(200).send(body);
  }

  function clearRefreshCookie(reply: FastifyReply): void {
    reply.clearCookie(options.cookieName, {
      httpOnly: true,
      secure: options.cookieSecure,
      sameSite: "strict",
      path: REFRESH_COOKIE_PATH,
    });
  }

  const loginDoc = routeDoc(
    "auth",
    "Log in",
    'Checks the username and password and opens a session. Returns an access token, and a refresh token in an HttpOnly cookie or, with refresh_token_delivery "body", in the body. Unknown users, wrong passwords and disabled accounts all get 401 invalid_credentials, and repeated failures get 429 rate_limited.',
  );
  app.post("/auth/login", { schema: { ...loginSchema, ...loginDoc } }, async (request, reply) => {
    const body = request.body as LoginBody;
    const tokens = await auth.login(body.username, body.password, originOf(request));
    return sendTokens(reply, tokens, body.refresh_token_delivery ?? "cookie");
  });

  const refreshDoc = routeDoc(
    "auth",
    "Refresh the session",
    'Rotates the refresh token and returns a new access token. Send the refresh cookie with the header X-Sello-Csrf: 1, or {"refresh_token": ...} in the body. A token reused after the grace window revokes the whole session (401 refresh_token_reused).',
    "refresh",
  );
  app.post(
    "/auth/refresh",
    { schema: { ...refreshSchema, ...refreshDoc } },
    async (request, reply) => {
      const body = (request.body ?? {}) as { refresh_token?: string };
      if (body.refresh_token !== undefined) {
        const tokens = await auth.refresh(body.refresh_token, originOf(request));
        return sendTokens(reply, tokens, "body");
      }

      const cookie = request.cookies[options.cookieName];
      if (cookie === undefined || cookie === "") {
        throw new SelloError("invalid_refresh_token", {
          message: "The request carries no refresh token.",
          reason: "missing",
        });
      }
      checkCsrf(request, options.allowedOrigins);
      try {
        const tokens = await auth.refresh(cookie, originOf(request));
        return sendTokens(reply, tokens, "cookie");
      } catch (error) {
        if (error instanceof SelloError && error.status === 401) {
          clearRefreshCookie(reply);
        }
        throw error;
      }
    },
  );

  const logoutDoc = routeDoc(
    "auth",
    "Log out",
    "Ends the session of the refresh cookie (sent with X-Sello-Csrf: 1), of the bearer token, or both, denies the bearer token until it expires, and clears the cookie. Answers 204 even when the session had already ended.",
    "logout",
  );
  app.post("/auth/logout", { schema: logoutDoc }, async (request, reply) => {
    const cookie = request.cookies[options.cookieName];
    const hasCookie = cookie !== undefined && cookie !== "";
    if (hasCookie) {
      checkCsrf(request, options.allowedOrigins);
    }
    const hasBearer = authorizationValues(request).length > 0;
    let claims: AccessTokenClaims | undefined;
    try {
      claims = hasBearer ? await requireBearer(request) : undefined;
    } catch (error) {
      // The cookie alone may end its session, so a bearer token that fails verification (most
      // often one that has expired) must not keep that session alive.
      if (!hasCookie || !(error instanceof SelloError) || error.status !== 401) {
        throw error;
      }
      request.log.info(
        { code: error.code, reason: error.reason },
        "logout ignored the bearer token",
      );
    }

    await auth.logout({ refreshToken: hasCookie ? cookie : undefined, claims }, originOf(request));
    clearRefreshCookie(reply);
    return reply.code(204).send();
  });

  const logoutAllDoc = routeDoc(
    "auth",
    "Log out everywhere",
    "Revokes every session of the token's user and every access token issued to them before now.",
    "bearer",
  );
  app.post("/auth/logout-all", { schema: logoutAllDoc }, async (request, reply) => {
    const claims = await requireBearer(request);
    await auth.logoutAll(claims, originOf(request));
    clearRefreshCookie(reply);
    return reply.code(204).send();
  });

  const meDoc = routeDoc(
    "auth",
    "Current user",
    "Returns the token's user: id, username, roles and permissions.",
    "bearer",
  );
  app.get("/auth/me", { schema: meDoc }, async (request) => {
    const claims = await requireBearer(request);
    return auth.me(claims);
  });

  const passwordDoc = routeDoc(
    "auth",
    "Change the password",
    "Checks the current password, stores the new one and revokes every other session of the user. The session that made the request stays open.",
    "bearer",
  );
  app.post(
    "/auth/password",
    { schema: { ...passwordSchema, ...passwordDoc } },
    async (request, reply) => {
      const claims = await requireBearer(request);
      const body = request.body as { current_password: string; new_password: string };
      await auth.changePassword(
        claims,
        body.current_password,
        body.new_password,
        originOf(request),
      );
      return reply.code(204).send();
    },
  );

  const registerDoc = routeDoc(
    "auth",
    "Register an account",
    "Creates an account when SELLO_REGISTRATION is open, and answers 404 not_found otherwise. The client logs in afterwards.",
  );
  app.post(
    "/auth/register",
    { schema: { ...registerSchema, ...registerDoc } },
    async (request, reply) => {
      if (!options.registrationOpen) {
        throw new SelloError("not_found", {
          message: "Registration is not enabled on this server.",
        });
      }
      const body = request.body as { username: string; password: string };
      const user = await auth.register(body.username, body.password, originOf(request));
      return reply.code(201).send({ user });
    },
  );

  await app.register(async (scope) => {
    // RFC 7009 clients send a form; JSON is accepted too. The form parser exists only here.
    scope.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string" },
      (_request, text, done) => {
        const params = new URLSearchParams(text as string);
        // Without a prototype, a "__proto__" parameter is an own field that validation rejects.
        const body: Record<string, string> = Object.create(null);
        for (const [key, value] of params) {
          if (Object.hasOwn(body, key)) {
            done(
              new SelloError("invalid_request", { message: `The parameter "${key}" is repeated.` }),
              undefined,
            );
            return;
          }
          body[key] = value;
        }
        done(null, body);
      },
    );

    const revokeDoc = routeDoc(
      "auth",
      "Revoke a token",
      "RFC 7009 token revocation, with a JSON or form body. A refresh token ends its session and an access token is denied until it expires. Answers 200 whether or not the token was valid.",
    );
    scope.post(
      "/auth/revoke",
      { schema: { ...revokeSchema, ...revokeDoc } },
      async (request, reply) => {
        const body = request.body as { token: string; token_type_hint?: string };
        await revokeAnyToken(body.token, request);
        return reply.code(200).send({});
      },
    );
  });

  /** Revokes a refresh token's session, or denies a valid access token. Never reveals which. */
  async function revokeAnyToken(token: string, request: FastifyRequest): Promise<void> {
    if (await auth.revokeRefreshToken(token, originOf(request))) {
      return;
    }
    let claims: AccessTokenClaims;
    try {
      claims = await guard.verify(token);
    } catch (error) {
      if (error instanceof SelloError && error.code === "service_unavailable") throw error;
      return;
    }
    await auth.denyAccessToken(claims);
  }
}
