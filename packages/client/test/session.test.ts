import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import {
  accessToken,
  advancePageClock,
  events,
  login,
  openPage,
  skipBrowserTests,
  waitForRestore,
} from "./helpers/browser.js";
import { PASSWORD, REFRESH, setUpBrowserTests } from "./helpers/fixture.js";

const TWO_HOURS_MS = 2 * 60 * 60 * 1000;

async function statusOf(page: Page, path: string): Promise<number> {
  return page.evaluate(async (url) => (await window.testApp.session.fetch(url)).status, path);
}

describe.skipIf(skipBrowserTests)("browser session", () => {
  const tests = setUpBrowserTests("user");

  it("refreshes once for 15 concurrent callers", async () => {
    const user = await tests.newUser();
    const context = await tests.newContext();
    const page = await openPage(context, tests.server.url);
    await login(page, user.username, PASSWORD);
    const oldToken = await accessToken(page);

    await tests.expireTokens(page);
    tests.server.resetCounts();
    const tokens = await page.evaluate(() =>
      Promise.all(Array.from({ length: 15 }, () => window.testApp.session.getAccessToken())),
    );

    expect(tests.server.count(REFRESH)).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(oldToken);
    expect(await statusOf(page, "/api/me")).toBe(200);
    expect(tests.server.count("GET /api/me")).toBe(1);
  });

  it("bounds requests to an always-401 endpoint", async () => {
    const user = await tests.newUser();
    const context = await tests.newContext();
    const page = await openPage(context, tests.server.url);
    await login(page, user.username, PASSWORD);

    tests.server.resetCounts();
    const statuses = await page.evaluate(async () => {
      const results: number[] = [];
      for (const code of ["token_expired", "token_expired", "token_expired", "invalid_token"]) {
        const response = await window.testApp.session.fetch(`/api/always-401?code=${code}`);
        results.push(response.status);
      }
      return results;
    });
    await page.waitForTimeout(300);

    expect(statuses).toEqual([401, 401, 401, 401]);
    expect(tests.server.count("GET /api/always-401")).toBe(3 * 2 + 1);
    expect(tests.server.count(REFRESH)).toBe(3);
  });

  it("ends a revoked session after one refresh", async () => {
    const user = await tests.newUser();
    const context = await tests.newContext();
    const page = await openPage(context, tests.server.url);
    await login(page, user.username, PASSWORD);
    await tests.server.server.auth.revokeAllSessions(user.id, "test");

    await tests.expireTokens(page);
    tests.server.resetCounts();
    expect(await accessToken(page)).toBeNull();
    expect(await accessToken(page)).toBeNull();
    expect(await page.evaluate(() => window.testApp.session.refresh())).toBeNull();
    expect(await statusOf(page, "/api/me")).toBe(401);
    await page.waitForTimeout(300);

    expect(tests.server.count(REFRESH)).toBe(1);
    expect((await events(page)).filter((event) => event.type === "expired")).toEqual([
      { type: "expired", code: "invalid_refresh_token" },
    ]);
    expect(await page.evaluate(() => window.testApp.session.user)).toBeNull();
  });

  it("redirects to loginUrl on expiry", async () => {
    const user = await tests.newUser();
    const context = await tests.newContext();
    const page = await openPage(context, tests.server.url, "loginUrl=/test/login.html");
    await login(page, user.username, PASSWORD);
    await tests.server.server.auth.revokeAllSessions(user.id, "test");

    await tests.expireTokens(page);
    tests.server.resetCounts();
    await page.evaluate(() => {
      void window.testApp.session.getAccessToken();
    });
    await page.waitForURL(`${tests.server.url}/test/login.html`, { timeout: 5000 });

    expect(tests.server.count(REFRESH)).toBe(1);
  });

  for (const [name, shift] of [
    ["ahead", TWO_HOURS_MS],
    ["behind", -TWO_HOURS_MS],
  ] as const) {
    it(`avoids a loop with clock two hours ${name}`, async () => {
      const user = await tests.newUser();
      const context = await tests.newContext({ clockShiftMs: shift });
      const page = await openPage(context, tests.server.url);
      const shifted = await page.evaluate(() => Date.now());
      expect(Math.abs(shifted - Date.now() - shift)).toBeLessThan(60_000);
      await login(page, user.username, PASSWORD);
      const firstToken = await accessToken(page);

      tests.server.resetCounts();
      const tokens = await page.evaluate(async () => {
        const seen: Array<string | null> = [];
        for (let call = 0; call < 10; call++) {
          seen.push(await window.testApp.session.getAccessToken());
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        return seen;
      });
      expect(tests.server.count(REFRESH)).toBe(0);
      expect(new Set(tokens)).toEqual(new Set([firstToken]));
      expect(await statusOf(page, "/api/me")).toBe(200);

      // Inside the renewal window (half of the 30-second lifetime), but not expired yet.
      await advancePageClock(page, 20_000);
      for (let call = 0; call < 5; call++) {
        await accessToken(page);
      }
      await page.waitForTimeout(500);
      expect(tests.server.count(REFRESH)).toBe(1);
      expect(await accessToken(page)).not.toBe(firstToken);
      expect(await statusOf(page, "/api/me")).toBe(200);
      expect(tests.server.count(REFRESH)).toBe(1);
    });
  }

  it("stores no token in web storage", async () => {
    const user = await tests.newUser();
    const context = await tests.newContext();
    const page = await openPage(context, tests.server.url);
    await login(page, user.username, PASSWORD);
    const token = await accessToken(page);
    expect(token).toEqual(expect.any(String));

    const storage = await page.evaluate(async () => ({
      local: Object.entries(localStorage),
      session: Object.entries(sessionStorage),
      databases: await indexedDB.databases(),
      caches: await caches.keys(),
      cookie: document.cookie,
    }));
    expect(storage).toEqual({ local: [], session: [], databases: [], caches: [], cookie: "" });

    const cookies = await context.cookies();
    expect(cookies.map((cookie) => cookie.name)).toEqual(["sello_refresh"]);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/auth" });
    expect(cookies[0]?.value).not.toContain(token);
  });

  it("keeps the session across a reload", async () => {
    const user = await tests.newUser();
    const context = await tests.newContext();
    const page = await openPage(context, tests.server.url);
    await login(page, user.username, PASSWORD);

    tests.server.resetCounts();
    await page.reload();
    await waitForRestore(page);

    expect(tests.server.count(REFRESH)).toBe(1);
    expect(await page.evaluate(() => window.testApp.session.user?.username)).toBe(user.username);
    const me = await page.evaluate(async () => {
      const response = await window.testApp.session.fetch("/api/me");
      return (await response.json()) as { id: string };
    });
    expect(me.id).toBe(user.id);
  });

  it("keeps the session while refresh fails", async () => {
    const user = await tests.newUser();
    const context = await tests.newContext();
    const page = await openPage(context, tests.server.url);
    await login(page, user.username, PASSWORD);
    const token = await accessToken(page);

    let attempts = 0;
    await page.route("**/auth/refresh", async (route) => {
      attempts += 1;
      await route.abort("connectionreset");
    });
    const failure = await page.evaluate(() =>
      window.testApp.session.refresh().then(
        () => null,
        (error: { code: string }) => error.code,
      ),
    );

    expect(failure).toBe("network_error");
    expect(attempts).toBe(4);
    expect(await accessToken(page)).toBe(token);
    expect(await page.evaluate(() => window.testApp.session.user?.username)).toBe(user.username);
    expect((await events(page)).some((event) => event.type === "expired")).toBe(false);

    await page.unroute("**/auth/refresh");
    const renewed = await page.evaluate(() => window.testApp.session.refresh());
    expect(renewed).not.toBe(token);
    expect(renewed).toEqual(expect.any(String));
  });

  it("rejects a wrong password with invalid_credentials", async () => {
    const user = await tests.newUser();
    const context = await tests.newContext();
    const page = await openPage(context, tests.server.url);

    const failure = await page.evaluate(
      (name) =>
        window.testApp.session.login(name, "not the password").then(
          () => null,
          (error: { name: string; code: string; status: number }) => ({
            name: error.name,
            code: error.code,
            status: error.status,
          }),
        ),
      user.username,
    );

    expect(failure).toEqual({ name: "SelloClientError", code: "invalid_credentials", status: 401 });
    expect(await page.evaluate(() => window.testApp.session.user)).toBeNull();
  });

  describe("tabs and devices", () => {
    it("shares one refresh between two tabs", async () => {
      const user = await tests.newUser();
      const context = await tests.newContext();
      const first = await openPage(context, tests.server.url);
      await login(first, user.username, PASSWORD);
      const second = await openPage(context, tests.server.url);
      expect(await accessToken(second)).toBe(await accessToken(first));
      const oldToken = await accessToken(first);

      await tests.expireTokens(first, second);
      tests.server.resetCounts();
      const [firstToken, secondToken] = await Promise.all([
        accessToken(first),
        accessToken(second),
      ]);

      expect(tests.server.count(REFRESH)).toBe(1);
      expect(firstToken).not.toBe(oldToken);
      expect(secondToken).toBe(firstToken);
    });

    it("logs out every tab within a second", async () => {
      const user = await tests.newUser();
      const context = await tests.newContext();
      const first = await openPage(context, tests.server.url);
      await login(first, user.username, PASSWORD);
      const second = await openPage(context, tests.server.url);
      const token = await accessToken(second);
      expect(token).not.toBeNull();

      tests.server.resetCounts();
      const started = Date.now();
      await first.evaluate(() => window.testApp.session.logout());
      await second.waitForFunction(
        () => window.testApp.events.some((event) => event.type === "logout"),
        undefined,
        { timeout: 1000 },
      );

      expect(Date.now() - started).toBeLessThan(1000);
      expect((await events(second)).filter((event) => event.type === "logout")).toEqual([
        { type: "logout", everywhere: false, otherTab: true },
      ]);
      expect(await second.evaluate(() => window.testApp.session.user)).toBeNull();
      expect(await accessToken(second)).toBeNull();
      expect(tests.server.count("POST /auth/logout")).toBe(1);
      expect(tests.server.count(REFRESH)).toBe(0);

      const rejected = await fetch(`${tests.server.url}/api/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(rejected.status).toBe(401);
      expect(((await rejected.json()) as { error: string }).error).toBe("token_revoked");
    });

    it("works without Web Locks and BroadcastChannel", async () => {
      const user = await tests.newUser();
      const context = await tests.newContext({ withoutTabApis: true });
      const first = await openPage(context, tests.server.url);
      const apis = await first.evaluate(() => [typeof navigator.locks, typeof BroadcastChannel]);
      expect(apis).toEqual(["undefined", "undefined"]);
      await login(first, user.username, PASSWORD);

      await tests.expireTokens(first);
      tests.server.resetCounts();
      const tokens = await first.evaluate(() =>
        Promise.all(Array.from({ length: 15 }, () => window.testApp.session.getAccessToken())),
      );
      expect(tests.server.count(REFRESH)).toBe(1);
      expect(new Set(tokens).size).toBe(1);

      // Each tab refreshes on its own; the server's grace window keeps both sessions valid.
      const second = await openPage(context, tests.server.url);
      await tests.expireTokens(first, second);
      tests.server.resetCounts();
      await Promise.all([accessToken(first), accessToken(second)]);
      expect(tests.server.count(REFRESH)).toBe(2);
      expect(await statusOf(first, "/api/me")).toBe(200);
      expect(await statusOf(second, "/api/me")).toBe(200);
      expect((await events(first)).some((event) => event.type === "expired")).toBe(false);
      expect((await events(second)).some((event) => event.type === "expired")).toBe(false);
    });

    it("logs out every device with logoutEverywhere", async () => {
      const user = await tests.newUser();
      const context = await tests.newContext();
      const otherDevice = await tests.newContext();
      const page = await openPage(context, tests.server.url);
      const other = await openPage(otherDevice, tests.server.url);
      await login(page, user.username, PASSWORD);
      await login(other, user.username, PASSWORD);

      await page.evaluate(() => window.testApp.session.logoutEverywhere());
      expect((await events(page)).filter((event) => event.type === "logout")).toEqual([
        { type: "logout", everywhere: true, otherTab: false },
      ]);

      await tests.expireTokens(other);
      tests.server.resetCounts();
      expect(await accessToken(other)).toBeNull();
      expect(tests.server.count(REFRESH)).toBe(1);
      expect((await events(other)).filter((event) => event.type === "expired")).toEqual([
        { type: "expired", code: "invalid_refresh_token" },
      ]);
    });
  });
});
