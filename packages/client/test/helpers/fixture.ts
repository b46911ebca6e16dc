import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll } from "vitest";
import { advancePageClock, type ContextOptions, launchChromium, newContext } from "./browser.js";
import {
  ACCESS_TTL_SECONDS,
  buildGlobalBundle,
  startTestServer,
  type TestServer,
} from "./server.js";

/** The password of every test user. */
export const PASSWORD = "violet staple orbit 42";
export const REFRESH = "POST /auth/refresh";
/** Past the token lifetime plus the guard's 5 seconds of clock tolerance, in milliseconds. */
export const PAST_EXPIRY_MS = (ACCESS_TTL_SECONDS + 6) * 1000;

export interface BrowserFixture {
  readonly server: TestServer;
  readonly browser: Browser;
  /** Opens a browser context that is closed after the test. */
  newContext(options?: ContextOptions): Promise<BrowserContext>;
  /** Creates a user with a unique name and the password PASSWORD. */
  newUser(): Promise<{ username: string; id: string }>;
  /** Makes access tokens expire on the server and, for the given pages, in the client. */
  expireTokens(...pages: Page[]): Promise<void>;
}

/**
 * Starts one test server and one Chromium for the calling test file, and closes every browser
 * context after each test. Call it at the top of a `describe` block.
 */
export function setUpBrowserTests(userPrefix: string): BrowserFixture {
  let server: TestServer | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  let userCount = 0;

  beforeAll(async () => {
    server = await startTestServer(await buildGlobalBundle());
    browser = await launchChromium();
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) {
      await context.close();
    }
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const started = <T>(value: T | undefined): T => {
    if (value === undefined) {
      throw new Error("The browser fixture is used before its beforeAll hook ran.");
    }
    return value;
  };

  return {
    get server() {
      return started(server);
    },
    get browser() {
      return started(browser);
    },
    async newContext(options) {
      const context = await newContext(started(browser), options);
      contexts.push(context);
      return context;
    },
    async newUser() {
      userCount += 1;
      const username = `${userPrefix}${userCount}`;
      return { username, id: await started(server).addUser(username, PASSWORD) };
    },
    async expireTokens(...pages) {
      started(server).clock.now += PAST_EXPIRY_MS;
      for (const page of pages) {
        await advancePageClock(page, PAST_EXPIRY_MS);
      }
    },
  };
}
