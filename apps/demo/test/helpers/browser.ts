import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Locator,
  type Page,
} from "playwright-core";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { REPO_ROOT, startTestDemo, type TestDemo } from "./demo.js";

/** Debian's Chromium. Playwright's own browser downloads are not used. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Where the tests save a screenshot of every page; the root .gitignore ignores /screenshots/. */
export const SCREENSHOT_DIR = join(REPO_ROOT, "screenshots", "demo");

const missingMessage =
  `Chromium was not found at ${CHROMIUM_PATH}, and the end-to-end tests of the demo need it. ` +
  "Install it with: apt-get install chromium";

/** True when the browser tests must be skipped: Chromium is missing outside CI. */
export const skipBrowserTests = !existsSync(CHROMIUM_PATH);

if (skipBrowserTests) {
  if (process.env.CI === "true") {
    throw new Error(missingMessage);
  }
  console.warn(`${missingMessage}. Skipping the demo's browser tests.`);
}

/** The page languages, with the browser locale that selects each. */
export const LOCALES = { en: "en-US", es: "es-ES" } as const;
export type Language = keyof typeof LOCALES;

type Dictionary = Record<string, string>;

/** The demo's dictionaries, as the pages load them. */
export const DICTIONARIES: Record<Language, Dictionary> = {
  en: readDictionary("en"),
  es: readDictionary("es"),
};

function readDictionary(language: Language): Dictionary {
  const file = join(REPO_ROOT, "apps", "demo", "public", "i18n", `${language}.json`);
  return JSON.parse(readFileSync(file, "utf8")) as Dictionary;
}

/** Returns the text of `key` in `language`, with `{name}` placeholders filled in. */
export function text(language: Language, key: string, params: Record<string, unknown> = {}) {
  const template = DICTIONARIES[language][key];
  if (template === undefined) {
    throw new Error(`The ${language} dictionary has no key "${key}".`);
  }
  return template.replace(/\{(\w+)\}/g, (placeholder, name: string) =>
    name in params ? String(params[name]) : placeholder,
  );
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

export interface DemoFixture {
  readonly demo: TestDemo;
  readonly browser: Browser;
  /**
   * Opens a browser context (one profile: its own cookies and storage) with the browser locale
   * of `language`, or `locale` when given. Its pages' Content-Security-Policy violations and
   * uncaught errors fail the test.
   */
  newContext(language?: Language, locale?: string): Promise<BrowserContext>;
  /** Creates a user with TEST_PASSWORD and a unique name that starts with `prefix`. */
  newUser(prefix: string, role: string): Promise<{ username: string; id: string }>;
}

/**
 * Starts one demo and one Chromium for the calling test file, closes every browser context
 * after each test, and fails a test whose pages logged a CSP violation or threw an uncaught
 * error. Call it at the top of a `describe` block.
 */
export function setUpDemoTests(): DemoFixture {
  let demo: TestDemo | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  let userCount = 0;

  beforeAll(async () => {
    demo = await startTestDemo();
    browser = await launchChromium();
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
  });

  afterEach(async () => {
    for (const context of contexts.splice(0)) {
      await context.close();
    }
    const found = problems.splice(0);
    expect(found, "page errors and CSP violations").toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  const started = <T>(value: T | undefined): T => {
    if (value === undefined) {
      throw new Error("The demo fixture is used before its beforeAll hook ran.");
    }
    return value;
  };

  return {
    get demo() {
      return started(demo);
    },
    get browser() {
      return started(browser);
    },
    async newContext(language = "en", locale = LOCALES[language]) {
      const context = await started(browser).newContext({ locale });
      context.on("console", (message) => {
        if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
          problems.push(`CSP violation: ${message.text()}`);
        }
      });
      context.on("weberror", (error) => {
        problems.push(`Uncaught error in ${error.page()?.url()}: ${error.error().message}`);
      });
      contexts.push(context);
      return context;
    },
    async newUser(prefix, role) {
      userCount += 1;
      const username = `${prefix}-${userCount}`;
      return { username, id: await started(demo).addUser(username, role) };
    },
  };
}

/** A condition on an element's text, with a description for the failure message. */
export interface TextCondition {
  description: string;
  matches(text: string): boolean;
}

/**
 * Waits until the element's text, with white space collapsed, equals `expected`, matches the
 * RegExp, or meets the condition. Fails with the last text seen.
 */
export async function expectText(
  locator: Locator,
  expected: string | RegExp | TextCondition,
  timeoutMs = 5_000,
): Promise<void> {
  const matches = (content: string) => {
    if (typeof expected === "string") {
      return content === expected;
    }
    return expected instanceof RegExp ? expected.test(content) : expected.matches(content);
  };
  let description: string;
  if (typeof expected === "string") {
    description = `the text ${JSON.stringify(expected)}`;
  } else {
    description = expected instanceof RegExp ? `text matching ${expected}` : expected.description;
  }

  const deadline = Date.now() + timeoutMs;
  let seen: string | null = null;
  while (Date.now() < deadline) {
    // Playwright's innerText, unlike textContent, separates table cells and skips hidden text.
    // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator, not a DOM node.
    const content = await locator.innerText({ timeout: 1_000 }).catch(() => null);
    seen = content === null ? null : content.replace(/\s+/g, " ").trim();
    if (seen !== null && matches(seen)) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `Expected ${locator} to have ${description}, but its text was ${JSON.stringify(seen)}.`,
  );
}

/** Opens the login page, signs in through the form, and waits for `next` and its header. */
export async function signIn(
  page: Page,
  baseUrl: string,
  username: string,
  password: string,
  next = "/notes",
): Promise<void> {
  await page.goto(`${baseUrl}/?next=${encodeURIComponent(next)}`);
  await page.locator("#username").fill(username);
  await page.locator("#password").fill(password);
  await page.locator("#login-submit").click();
  await page.waitForURL(`${baseUrl}${next}`);
  await expectSignedIn(page, username);
}

/** Waits until the header names the signed-in user. */
export async function expectSignedIn(page: Page, username: string): Promise<void> {
  await expectText(page.locator("#signed-in-as"), new RegExp(`\\b${username}\\b`));
}

/** Waits until the notes list has loaded, and returns the text of each note, newest first. */
export async function noteTexts(page: Page): Promise<string[]> {
  const loading = [text("en", "notes.list.loading"), text("es", "notes.list.loading")];
  await expectText(page.locator("#list-status"), {
    description: "the status of a loaded list",
    matches: (content) => content !== "" && !loading.includes(content),
  });
  return page.locator("#notes .note__text").allTextContents();
}

/** Saves a full-page screenshot as screenshots/demo/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}
