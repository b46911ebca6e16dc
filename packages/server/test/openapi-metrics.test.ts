import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, refreshWithCookie, request } from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

/** Routes left out of the OpenAPI document: CORS preflight, metrics and the docs themselves. */
const UNDOCUMENTED = /^(OPTIONS .*|GET \/(metrics|openapi\.json|docs.*))$/;

describe("OpenAPI document", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
  });

  afterAll(async () => {
    await running.stop();
  });

  it("passes the OpenAPI 3.1 schema validator", async () => {
    const document = await request(`${running.url}/openapi.json`);
    expect(document.status).toBe(200);
    expect(document.body.openapi).toBe("3.1.0");
    const validator = new Validator();
    const result = await validator.validate(document.body);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("lists every route the server registers", async () => {
    const document = await request<{ paths: Record<string, Record<string, unknown>> }>(
      `${running.url}/openapi.json`,
    );
    const documented = new Set<string>();
    for (const [path, operations] of Object.entries(document.body.paths)) {
      for (const method of Object.keys(operations)) {
        documented.add(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`);
      }
    }
    const registered = running.server.routes.filter((route) => !UNDOCUMENTED.test(route));
    expect(registered.length).toBeGreaterThan(20);
    for (const route of registered) {
      expect(documented, route).toContain(route);
    }
  });

  it("describes every operation", async () => {
    type Operation = { summary?: string; description?: string; tags?: string[] };
    const document = await request<{ paths: Record<string, Record<string, Operation>> }>(
      `${running.url}/openapi.json`,
    );
    const operations = Object.entries(document.body.paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, operation]) => ({
        name: `${method} ${path}`,
        operation,
      })),
    );
    expect(operations.length).toBeGreaterThan(20);
    for (const { name, operation } of operations) {
      expect(operation.summary, name).toMatch(/\S/);
      expect(operation.description, name).toMatch(/\S/);
      expect(operation.tags?.length, name).toBe(1);
    }
  });

  it("marks the routes that need a bearer token", async () => {
    type Operation = { security?: Record<string, string[]>[] };
    const document = await request<{ paths: Record<string, Record<string, Operation>> }>(
      `${running.url}/openapi.json`,
    );
    const paths = document.body.paths;
    expect(paths["/auth/me"]?.get?.security).toEqual([{ bearer: [] }]);
    expect(paths["/admin/users"]?.get?.security).toEqual([{ bearer: [] }]);
    expect(paths["/auth/refresh"]?.post?.security).toEqual([{ refreshCookie: [] }, {}]);
    expect(paths["/auth/login"]?.post?.security).toBeUndefined();
  });

  it("names the refresh cookie the server sets", async () => {
    const document = await request<{
      components: { securitySchemes: { refreshCookie: { name: string } } };
    }>(`${running.url}/openapi.json`);
    expect(document.body.components.securitySchemes.refreshCookie.name).toBe("sello_refresh");

    const https = await startServer({
      SELLO_MODE: "production",
      SELLO_PUBLIC_URL: "https://auth.example.test",
      SELLO_TRUST_PROXY: "loopback",
      SELLO_API_DOCS: "on",
    });
    try {
      const secure = await request<{
        components: { securitySchemes: { refreshCookie: { name: string } } };
      }>(`${https.url}/openapi.json`);
      expect(secure.body.components.securitySchemes.refreshCookie.name).toBe(
        "__Secure-sello_refresh",
      );
    } finally {
      await https.stop();
    }
  });

  it("serves Swagger UI in development", async () => {
    const response = await fetch(`${running.url}/docs/`, { redirect: "follow" });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("swagger");
  });

  it("hides the docs in production by default", async () => {
    const production = await startServer({
      SELLO_MODE: "production",
      SELLO_PUBLIC_URL: "https://auth.example.test",
      SELLO_TRUST_PROXY: "loopback",
    });
    try {
      const document = await request(`${production.url}/openapi.json`);
      expect(document.status).toBe(404);
      expect(document.body.error).toBe("not_found");
      const ui = await request(`${production.url}/docs`);
      expect(ui.status).toBe(404);
    } finally {
      await production.stop();
    }
  });
});

describe("Prometheus metrics", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "metrics-user", "metrics password 1");
  });

  afterAll(async () => {
    await running.stop();
  });

  function sample(text: string, name: string, labels = ""): number {
    const line = text
      .split("\n")
      .find((candidate) => candidate.startsWith(`${name}${labels === "" ? " " : `{${labels}}`}`));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
  }

  it("counts logins, refreshes, reuse, revocations and requests after real traffic", async () => {
    const good = await login(running.url, "metrics-user", "metrics password 1");
    await login(running.url, "metrics-user", "wrong password 1");
    const cookie = good.refreshCookie as { name: string; value: string };
    expect((await refreshWithCookie(running.url, cookie)).status).toBe(200);
    running.clock.now += 60_000;
    expect((await refreshWithCookie(running.url, cookie)).status).toBe(401);

    const response = await fetch(`${running.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();

    expect(sample(text, "sello_logins_total", 'outcome="success"')).toBe(1);
    expect(sample(text, "sello_logins_total", 'outcome="failure"')).toBe(1);
    expect(sample(text, "sello_refreshes_total", 'outcome="success"')).toBe(1);
    expect(sample(text, "sello_refreshes_total", 'outcome="refresh_token_reused"')).toBe(1);
    expect(sample(text, "sello_refresh_reuse_detected_total")).toBe(1);
    expect(sample(text, "sello_revocations_total", 'kind="refresh_reuse"')).toBe(1);
    expect(
      sample(
        text,
        "sello_http_request_duration_seconds_count",
        'method="POST",route="/auth/login",status="200"',
      ),
    ).toBe(1);
    expect(sample(text, "sello_signing_key_age_seconds")).toBeGreaterThanOrEqual(0);
    expect(text).toContain("sello_process_");
  });

  it("counts rate-limited requests", async () => {
    const limited = await startServer({ SELLO_LOGIN_MAX_ATTEMPTS_PER_IP: "2" });
    try {
      for (let attempt = 0; attempt < 4; attempt++) {
        await login(limited.url, "nobody", "wrong password 1");
      }
      const text = await (await fetch(`${limited.url}/metrics`)).text();
      expect(sample(text, "sello_rate_limited_total")).toBeGreaterThanOrEqual(1);
      expect(sample(text, "sello_logins_total", 'outcome="rate_limited"')).toBeGreaterThanOrEqual(
        1,
      );
    } finally {
      await limited.stop();
    }
  });
});
