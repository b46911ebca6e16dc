import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import type { Session } from "../../src/index.js";

/** Debian's Chromium. Playwright's own browser downloads are not used. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

const missingMessage =
  `Chromium was not found at ${CHROMIUM_PATH}, and the browser tests of @sello/client need it. ` +
  "Install it with: apt-get install chromium";

/** True when the browser tests must be skipped: Chromium is missing outside CI. */
export const skipBrowserTests = !existsSync(CHROMIUM_PATH);

if (skipBrowserTests) {
  if (process.env.CI === "true") {
    throw new Error(missingMessage);
  }
  console.warn(`${missingMessage}. Skipping the browser tests.`);
}

const clockScript = join(dirname(fileURLToPath(import.meta.url)), "..", "pages", "clock.js");

/** What test/pages/app.js puts on `window`. */
export interface TestApp {
  session: Session;
  events: Array<Record<string, unknown> & { type: string }>;
}

declare global {
  interface Window {
    testApp: TestApp;
    __selloAdvanceClock(milliseconds: number): void;
  }
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

export interface ContextOptions {
  /** Shift of the pages' wall clock, in milliseconds. Default 0. */
  clockShiftMs?: number;
  /** Removes the Web Locks and BroadcastChannel APIs before any page script runs. */
  withoutTabApis?: boolean;
}

/**
 * Opens a browser context (one cookie jar, like one browser profile) whose pages can move their
 * clocks with `advancePageClock`.
 */
export async function newContext(
  browser: Browser,
  options: ContextOptions = {},
): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript({
    content: `globalThis.__selloClockShift = ${options.clockShiftMs ?? 0};`,
  });
  await context.addInitScript({ path: clockScript });
  if (options.withoutTabApis === true) {
    await context.addInitScript({
      content: "delete Navigator.prototype.locks; delete globalThis.BroadcastChannel;",
    });
  }
  return context;
}

/**
 * Opens the test page in a new tab and waits until the session's initial restore has finished.
 * `query` is the page's query string, such as `lib=jquery&renewBefore=10`.
 */
export async function openPage(
  context: BrowserContext,
  baseUrl: string,
  query = "",
): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${baseUrl}/test/page.html?${query}`);
  await waitForRestore(page);
  return page;
}

export async function waitForRestore(page: Page): Promise<void> {
  await page.waitForFunction(() => window.testApp !== undefined);
  await page.evaluate(() => window.testApp.session.restore().then(() => undefined));
}

export async function login(page: Page, username: string, password: string): Promise<string> {
  return page.evaluate(
    async ([name, secret]) => (await window.testApp.session.login(name, secret)).id,
    [username, password] as const,
  );
}

export async function accessToken(page: Page): Promise<string | null> {
  return page.evaluate(() => window.testApp.session.getAccessToken());
}

/** Moves the page's Date and performance.now forward by `milliseconds`, without waiting. */
export async function advancePageClock(page: Page, milliseconds: number): Promise<void> {
  await page.evaluate((step) => window.__selloAdvanceClock(step), milliseconds);
}

export async function events(page: Page): Promise<TestApp["events"]> {
  return page.evaluate(() => window.testApp.events);
}
