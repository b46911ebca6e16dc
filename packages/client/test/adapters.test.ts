import type { AxiosStatic } from "axios";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  accessToken,
  launchChromium,
  login,
  newContext,
  openPage,
  skipBrowserTests,
} from "./helpers/browser.js";
import {
  ACCESS_TTL_SECONDS,
  buildGlobalBundle,
  startTestServer,
  type TestServer,
} from "./helpers/server.js";

declare global {
  interface Window {
    jQuery: JQueryStatic;
    axios: AxiosStatic;
  }
}

const PASSWORD = "violet staple orbit 42";
const REFRESH = "POST /auth/refresh";
/** Past the token lifetime plus the guard's 5 seconds of clock tolerance. */
const PAST_EXPIRY_MS = (ACCESS_TTL_SECONDS + 6) * 1000;

/** The outcome of one call made through a library in the page. */
interface CallResult {
  status: number;
  body: unknown;
}

/** Calls a URL with $.ajax and records the global ajax events it caused. */
async function callWithJQuery(page: Page, url: string) {
  return page.evaluate(async (target) => {
    const $ = window.jQuery;
    const globalEvents: string[] = [];
    const record = (event: JQuery.TriggeredEvent, xhr: JQuery.jqXHR) =>
      globalEvents.push(event.type === "ajaxSend" ? event.type : `${event.type} ${xhr.status}`);
    $(document).on("ajaxSend ajaxError ajaxSuccess ajaxComplete", record);
    try {
      const result = await new Promise<CallResult>((resolve) => {
        $.ajax({ url: target, dataType: "json" })
          .done((body, _text, xhr) => resolve({ status: xhr.status, body }))
          .fail((xhr) => resolve({ status: xhr.status, body: xhr.responseJSON }));
      });
      return { ...result, globalEvents };
    } finally {
      $(document).off("ajaxSend ajaxError ajaxSuccess ajaxComplete", record);
    }
  }, url);
}

async function callWithAxios(page: Page, url: string): Promise<CallResult> {
  return page.evaluate(async (target) => {
    try {
      const response = await window.axios.get(target);
      return { status: response.status, body: response.data as unknown };
    } catch (error) {
      const response = (error as { response?: { status: number; data: unknown } }).response;
      return { status: response?.status ?? 0, body: response?.data };
    }
  }, url);
}

describe.skipIf(skipBrowserTests)("adapters", () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext | undefined;
  let userCount = 0;

  beforeAll(async () => {
    server = await startTestServer(await buildGlobalBundle());
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
  });

  async function loggedInPage(lib: "jquery" | "axios"): Promise<{ page: Page; id: string }> {
    userCount += 1;
    const username = `${lib}${userCount}`;
    const id = await server.addUser(username, PASSWORD);
    context = await newContext(browser);
    const page = await openPage(context, server.url, `lib=${lib}`);
    await login(page, username, PASSWORD);
    return { page, id };
  }

  describe("jQuery", () => {
    it("sends the token with $.ajax", async () => {
      const { page, id } = await loggedInPage("jquery");
      server.resetCounts();

      const result = await callWithJQuery(page, "/api/me");

      expect(result.status).toBe(200);
      expect(result.body).toEqual({ id });
      expect(result.globalEvents).toEqual(["ajaxSend", "ajaxSuccess 200", "ajaxComplete 200"]);
      expect(server.count("GET /api/me")).toBe(1);
    });

    it("renews and retries once after token_expired", async () => {
      const { page, id } = await loggedInPage("jquery");
      const oldToken = await accessToken(page);
      server.clock.now += PAST_EXPIRY_MS;
      server.resetCounts();

      const result = await callWithJQuery(page, "/api/me");

      expect(result.status).toBe(200);
      expect(result.body).toEqual({ id });
      expect(result.globalEvents).toEqual(["ajaxSend", "ajaxSuccess 200", "ajaxComplete 200"]);
      expect(server.count("GET /api/me")).toBe(2);
      expect(server.count(REFRESH)).toBe(1);
      expect(await accessToken(page)).not.toBe(oldToken);
    });

    it("retries an always-401 endpoint once", async () => {
      const { page } = await loggedInPage("jquery");
      server.resetCounts();

      const expired = await callWithJQuery(page, "/api/always-401?code=token_expired");
      const invalid = await callWithJQuery(page, "/api/always-401?code=invalid_token");

      expect(expired.status).toBe(401);
      expect(expired.body).toMatchObject({ error: "token_expired" });
      expect(invalid.status).toBe(401);
      expect(invalid.body).toMatchObject({ error: "invalid_token" });
      expect(server.count("GET /api/always-401")).toBe(3);
      expect(server.count(REFRESH)).toBe(1);
    });

    it("sends no token after logout", async () => {
      const { page } = await loggedInPage("jquery");
      await page.evaluate(() => window.testApp.session.logout());

      const result = await callWithJQuery(page, "/api/me");

      expect(result.status).toBe(401);
      expect(result.body).toMatchObject({ error: "missing_token" });
    });
  });

  describe("axios", () => {
    it("sends the token with axios", async () => {
      const { page, id } = await loggedInPage("axios");
      server.resetCounts();

      const result = await callWithAxios(page, "/api/me");

      expect(result).toEqual({ status: 200, body: { id } });
      expect(server.count("GET /api/me")).toBe(1);
    });

    it("renews and retries once after token_expired", async () => {
      const { page, id } = await loggedInPage("axios");
      const oldToken = await accessToken(page);
      server.clock.now += PAST_EXPIRY_MS;
      server.resetCounts();

      const result = await callWithAxios(page, "/api/me");

      expect(result).toEqual({ status: 200, body: { id } });
      expect(server.count("GET /api/me")).toBe(2);
      expect(server.count(REFRESH)).toBe(1);
      expect(await accessToken(page)).not.toBe(oldToken);
    });

    it("retries an always-401 endpoint once", async () => {
      const { page } = await loggedInPage("axios");
      server.resetCounts();

      const expired = await callWithAxios(page, "/api/always-401?code=token_expired");
      const invalid = await callWithAxios(page, "/api/always-401?code=invalid_token");

      expect(expired.status).toBe(401);
      expect(expired.body).toMatchObject({ error: "token_expired" });
      expect(invalid.status).toBe(401);
      expect(invalid.body).toMatchObject({ error: "invalid_token" });
      expect(server.count("GET /api/always-401")).toBe(3);
      expect(server.count(REFRESH)).toBe(1);
    });
  });

  it("keeps the token away from other origins", async () => {
    const { page } = await loggedInPage("axios");

    const decisions = await page.evaluate(() => {
      const { session } = window.testApp;
      return [
        session.sendsTokenTo("/api/me"),
        session.sendsTokenTo(location.href),
        session.sendsTokenTo("https://third-party.example/collect"),
        session.sendsTokenTo(`http://localhost:${location.port}/api/me`),
      ];
    });

    expect(decisions).toEqual([true, true, false, false]);
  });
});
