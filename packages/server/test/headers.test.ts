import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bearer,
  expectError,
  login,
  loginForTokens,
  refreshWithCookie,
  request,
} from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

const PASSWORD = "correct horse battery";
const IDLE_TTL_SECONDS = String(7 * 86_400);

/** Asserts the security headers that every response must carry. */
function expectSecurityHeaders(headers: Headers): void {
  const policy = headers.get("content-security-policy") ?? "";
  expect(policy).toContain("default-src 'self'");
  expect(policy).toContain("script-src 'self'");
  expect(policy).toContain("frame-ancestors 'none'");
  expect(policy).toContain("object-src 'none'");
  expect(policy).not.toContain("unsafe-inline");
  expect(policy).not.toContain("unsafe-eval");
  expect(headers.get("x-content-type-options")).toBe("nosniff");
  expect(headers.get("referrer-policy")).toBe("no-referrer");
  expect(headers.get("x-frame-options")).toBe("DENY");
  expect(headers.get("x-powered-by")).toBeNull();
}

describe("security: response headers in development", () => {
  let running: RunningServer;
  let accessToken: string;

  beforeAll(async () => {
    running = await startServer({ SELLO_CORS_ORIGINS: "https://app.example.test" });
    await addUser(running, "alice", PASSWORD);
    accessToken = (await loginForTokens(running.url, "alice", PASSWORD)).accessToken;
  });

  afterAll(async () => {
    await running.stop();
  });

  it("every kind of response has them", async () => {
    const responses = [
      await request(`${running.url}/healthz`),
      await request(`${running.url}/.well-known/jwks.json`),
      await request(`${running.url}/auth/me`, { headers: bearer(accessToken) }),
      await request(`${running.url}/auth/me`),
      await request(`${running.url}/no/such/route`),
      (await login(running.url, "alice", PASSWORD)).response,
      (await login(running.url, "alice", "wrong horse battery")).response,
      await request(`${running.url}/auth/login`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: "x",
      }),
      await request(`${running.url}/auth/login`, {
        method: "POST",
        json: { username: "alice", password: "x".repeat(20_000) },
      }),
    ];

    for (const response of responses) {
      expectSecurityHeaders(response.headers);
    }
  });

  it("no HSTS over plain http", async () => {
    const response = await request(`${running.url}/healthz`);

    expect(response.headers.get("strict-transport-security")).toBeNull();
  });

  it("token and error responses are not cached", async () => {
    const responses = [
      (await login(running.url, "alice", PASSWORD)).response,
      (await login(running.url, "alice", "wrong horse battery")).response,
      await request(`${running.url}/auth/me`, { headers: bearer(accessToken) }),
      await request(`${running.url}/auth/refresh`, { method: "POST" }),
      await request(`${running.url}/no/such/route`),
    ];

    for (const response of responses) {
      expect(response.headers.get("cache-control")).toBe("no-store");
    }
  });

  it("refresh cookie attributes on localhost", async () => {
    const { refreshCookie } = await login(running.url, "alice", PASSWORD);

    expect(refreshCookie?.name).toBe("sello_refresh");
    expect(refreshCookie?.attributes).toEqual({
      "max-age": IDLE_TTL_SECONDS,
      path: "/auth",
      httponly: true,
      samesite: "Strict",
    });
  });

  it("CORS preflight allows configured origin", async () => {
    const response = await fetch(`${running.url}/auth/refresh`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.test",
        "access-control-request-method": "POST",
        "access-control-request-headers": "x-sello-csrf, content-type",
      },
    });

    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example.test");
    expect(response.headers.get("access-control-allow-credentials")).toBe("true");
    expect(response.headers.get("access-control-allow-headers")?.toLowerCase()).toContain(
      "x-sello-csrf",
    );
  });

  it("CORS preflight ignores other origins", async () => {
    const response = await fetch(`${running.url}/auth/refresh`, {
      method: "OPTIONS",
      headers: {
        origin: "https://evil.example.test",
        "access-control-request-method": "POST",
        "access-control-request-headers": "x-sello-csrf",
      },
    });

    // Without Access-Control-Allow-Origin the browser blocks the request, whatever else is sent.
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("CORS response omits other origins", async () => {
    const response = await request(`${running.url}/auth/me`, {
      headers: { ...bearer(accessToken), origin: "https://evil.example.test" },
    });

    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("exposes Retry-After to allowed origins", async () => {
    const response = await request(`${running.url}/auth/me`, {
      headers: { ...bearer(accessToken), origin: "https://app.example.test" },
    });

    expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example.test");
    expect(response.headers.get("access-control-expose-headers")).toContain("Retry-After");
  });
});

describe("security: HTTPS behind a TLS proxy", () => {
  const PUBLIC_URL = "https://auth.example.test";
  // What a TLS-terminating proxy on loopback adds to each request it forwards.
  const PROXY_HEADERS = { "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9" };
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer({
      SELLO_MODE: "production",
      SELLO_PUBLIC_URL: PUBLIC_URL,
      SELLO_TRUST_PROXY: "loopback",
    });
    await addUser(running, "alice", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  async function proxiedLogin() {
    return request<{ user: { id: string } }>(`${running.url}/auth/login`, {
      method: "POST",
      headers: PROXY_HEADERS,
      json: { username: "alice", password: PASSWORD },
    });
  }

  it("secure cookie with __Secure- prefix", async () => {
    const response = await proxiedLogin();

    expect(response.status).toBe(200);
    expect(response.cookies).toHaveLength(1);
    expect(response.cookies[0]?.name).toBe("__Secure-sello_refresh");
    expect(response.cookies[0]?.attributes).toEqual({
      "max-age": IDLE_TTL_SECONDS,
      path: "/auth",
      httponly: true,
      secure: true,
      samesite: "Strict",
    });
  });

  it("HSTS on every response", async () => {
    const responses = [
      await proxiedLogin(),
      await request(`${running.url}/healthz`, { headers: PROXY_HEADERS }),
      await request(`${running.url}/no/such/route`, { headers: PROXY_HEADERS }),
    ];

    for (const response of responses) {
      expect(response.headers.get("strict-transport-security")).toBe(
        "max-age=31536000; includeSubDomains",
      );
      expectSecurityHeaders(response.headers);
    }
  });

  it("secure cookie refreshes", async () => {
    const cookie = (await proxiedLogin()).cookies[0] as { name: string; value: string };

    const response = await request(`${running.url}/auth/refresh`, {
      method: "POST",
      headers: {
        ...PROXY_HEADERS,
        cookie: `${cookie.name}=${cookie.value}`,
        "x-sello-csrf": "1",
        origin: PUBLIC_URL,
      },
    });

    expect(response.status).toBe(200);
    expect(response.cookies[0]?.name).toBe("__Secure-sello_refresh");
    expect(response.cookies[0]?.attributes.secure).toBe(true);
  });

  it("unprefixed cookie is ignored", async () => {
    const cookie = (await proxiedLogin()).cookies[0] as { name: string; value: string };

    const response = await refreshWithCookie(running.url, {
      name: "sello_refresh",
      value: cookie.value,
    });

    expectError(response, 401, "invalid_refresh_token");
  });

  it("logout clears the secure cookie", async () => {
    const cookie = (await proxiedLogin()).cookies[0] as { name: string; value: string };

    const response = await request(`${running.url}/auth/logout`, {
      method: "POST",
      headers: { ...PROXY_HEADERS, cookie: `${cookie.name}=${cookie.value}`, "x-sello-csrf": "1" },
    });

    expect(response.status).toBe(204);
    expect(response.cookies[0]?.name).toBe("__Secure-sello_refresh");
    expect(response.cookies[0]?.attributes.secure).toBe(true);
    expect(response.cookies[0]?.attributes["max-age"]).toBe("0");
  });

  it("audit records the forwarded address", async () => {
    const response = await proxiedLogin();

    const events = await running.server.store.listAudit({
      type: "login.success",
      userId: response.body.user.id,
    });
    expect(events[0]?.ip).toBe("203.0.113.9");
  });
});
