import type { Page, Request } from "playwright-core";
import { describe, expect, it } from "vitest";
import { DEMO_USERS } from "../src/demo-users.js";
import {
  DICTIONARIES,
  expectSignedIn,
  expectText,
  type Language,
  noteTexts,
  screenshot,
  setUpDemoTests,
  signIn,
  skipBrowserTests,
  text,
} from "./helpers/browser.js";

function demoUser(role: "admin" | "editor" | "viewer") {
  const user = DEMO_USERS.find((candidate) => candidate.role === role);
  if (user === undefined) {
    throw new Error(`No demo user has the role ${role}.`);
  }
  return user;
}

const admin = demoUser("admin");
const editor = demoUser("editor");
const viewer = demoUser("viewer");

/** Fails when the page shows a dictionary key in place of its text. */
async function expectNoDictionaryKeys(page: Page): Promise<void> {
  // Only the text that is shown: hidden elements may keep their fallback text.
  // biome-ignore lint/performance/useDomNodeTextContent: a Playwright locator, not a DOM node.
  const body = await page.locator("body").innerText();
  const visibleKeys = Object.keys(DICTIONARIES.en).filter((key) => body.includes(key));
  expect(visibleKeys, `dictionary keys shown on ${page.url()}`).toEqual([]);
}

async function expectLanguage(page: Page, language: Language): Promise<void> {
  expect(await page.locator("html").getAttribute("lang")).toBe(language);
  await expectText(
    page.locator(`[data-language="${language}"]`),
    language === "en" ? "English" : "Español",
  );
  expect(await page.locator(`[data-language="${language}"]`).getAttribute("aria-pressed")).toBe(
    "true",
  );
}

describe.skipIf(skipBrowserTests)("demo pages", () => {
  const tests = setUpDemoTests();

  it("login page rejects a wrong password in English", async () => {
    const context = await tests.newContext("en");
    const page = await context.newPage();
    const response = await page.goto(tests.demo.url);
    expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'");

    await expectText(page.locator("h1"), "Sign in");
    await expectLanguage(page, "en");
    await expectText(page.locator("#demo-account-rows tr").first(), /admin\s+sello-admin-demo/);
    await page.locator("#username").fill(editor.username);
    await page.locator("#password").fill("not the password");
    await page.locator("#login-submit").click();

    await expectText(page.locator("#login-error"), "The username or password is incorrect.");
    expect(page.url()).toBe(`${tests.demo.url}/`);
    expect(await page.locator("#password").inputValue()).toBe("");
  });

  it("login page rejects a wrong password in Spanish", async () => {
    const context = await tests.newContext("es");
    const page = await context.newPage();
    await page.goto(tests.demo.url);

    await expectText(page.locator("h1"), "Iniciar sesión");
    await expectLanguage(page, "es");
    expect(await page.title()).toBe("Iniciar sesión – Demo de Sello");
    await page.locator("#username").fill(viewer.username);
    await page.locator("#password").fill("tampoco es la clave");
    await page.locator("#login-submit").click();

    await expectText(page.locator("#login-error"), "El usuario o la contraseña no son correctos.");
  });

  it("login page asks for both fields", async () => {
    const context = await tests.newContext("en");
    const page = await context.newPage();
    await page.goto(tests.demo.url);
    await page.locator("#username").fill(editor.username);
    await page.locator("#login-submit").click();

    await expectText(page.locator("#login-error"), text("en", "login.missingFields"));
  });

  it("editor reads and creates notes", async () => {
    await tests.demo.demo.notes.create({
      text: "Welcome to the demo",
      authorId: "seed",
      authorUsername: admin.username,
    });
    const context = await tests.newContext("en");
    const page = await context.newPage();
    await signIn(page, tests.demo.url, editor.username, editor.password);

    expect(await noteTexts(page)).toContain("Welcome to the demo");
    await expectText(page.locator("#role-summary"), text("en", "notes.summary.write"));
    expect(await page.locator("#notes button").count()).toBe(0);
    await page.locator("#note-text").fill("Buy oat milk");
    await page.locator("#note-submit").click();

    await expectText(page.locator("#form-status"), "Note added.");
    expect((await noteTexts(page))[0]).toBe("Buy oat milk");
    await expectText(page.locator("#notes .note__author").first(), editor.username);
    const stored = await tests.demo.demo.notes.list();
    expect(stored.find((note) => note.text === "Buy oat milk")?.author).toBe(editor.username);
  });

  it("viewer is denied creating a note", async () => {
    const context = await tests.newContext("en");
    const page = await context.newPage();
    await signIn(page, tests.demo.url, viewer.username, viewer.password);
    const before = await noteTexts(page);
    expect(before.length).toBeGreaterThan(0);
    const storedBefore = (await tests.demo.demo.notes.list()).length;

    await page.locator("#note-text").fill("Viewers cannot write this");
    await page.locator("#note-submit").click();

    await expectText(page.locator("#form-error"), text("en", "notes.new.denied"));
    expect(await noteTexts(page)).toEqual(before);
    expect((await tests.demo.demo.notes.list()).length).toBe(storedBefore);
    expect(await page.locator("#notes button").count()).toBe(0);
  });

  it("admin deletes a note", async () => {
    const note = await tests.demo.demo.notes.create({
      text: "Delete me",
      authorId: "seed",
      authorUsername: editor.username,
    });
    const context = await tests.newContext("en");
    const page = await context.newPage();
    await signIn(page, tests.demo.url, admin.username, admin.password);
    expect(await noteTexts(page)).toContain("Delete me");

    await page
      .getByRole("button", { name: /^Delete the note by editor/ })
      .first()
      .click();

    await expectText(page.locator("#form-status"), "Note deleted.");
    expect(await noteTexts(page)).not.toContain("Delete me");
    const stored = await tests.demo.demo.notes.list();
    expect(stored.some((other) => other.id === note.id)).toBe(false);
  });

  it("jQuery page sends $.ajax through the adapter", async () => {
    await tests.demo.demo.notes.create({
      text: "Seen by jQuery",
      authorId: "seed",
      authorUsername: admin.username,
    });
    const context = await tests.newContext("en");
    const page = await context.newPage();
    const apiRequests: Request[] = [];
    page.on("request", (request) => {
      if (new URL(request.url()).pathname.startsWith("/api/")) {
        apiRequests.push(request);
      }
    });
    await signIn(page, tests.demo.url, editor.username, editor.password, "/jquery");

    await expectText(page.locator("h1"), "Notes with jQuery");
    expect(await noteTexts(page)).toContain("Seen by jQuery");
    await page.locator("#note-text").fill("Written with $.ajax");
    await page.locator("#note-submit").click();

    await expectText(page.locator("#form-status"), "Note added.");
    expect((await noteTexts(page))[0]).toBe("Written with $.ajax");
    const post = apiRequests.find((request) => request.method() === "POST");
    expect(post?.headers().authorization).toMatch(/^Bearer \S+$/);
    expect(post?.headers()["x-requested-with"]).toBe("XMLHttpRequest");
    expect(apiRequests.every((request) => request.headers().authorization !== undefined)).toBe(
      true,
    );
  });

  it("jQuery page denies a viewer", async () => {
    const context = await tests.newContext("es");
    const page = await context.newPage();
    await signIn(page, tests.demo.url, viewer.username, viewer.password, "/jquery");
    await noteTexts(page);

    await page.locator("#note-text").fill("No debería guardarse");
    await page.locator("#note-submit").click();

    await expectText(page.locator("#form-error"), text("es", "notes.new.denied"));
  });

  it("admin page is closed to an editor", async () => {
    const context = await tests.newContext("en");
    const page = await context.newPage();
    await signIn(page, tests.demo.url, editor.username, editor.password);
    expect(await page.locator('[data-needs-role="admin"]').isHidden()).toBe(true);

    await page.goto(`${tests.demo.url}/admin`);

    await expectText(
      page.locator("#page-message"),
      text("en", "admin.denied", { username: editor.username }),
    );
    expect(await page.locator("#admin-content").isHidden()).toBe(true);
  });

  it("language switch is remembered", async () => {
    const context = await tests.newContext("en");
    const page = await context.newPage();
    await page.goto(tests.demo.url);
    await expectText(page.locator("h1"), "Sign in");

    await page.locator('[data-language="es"]').click();
    await expectText(page.locator("h1"), "Iniciar sesión");
    await expectLanguage(page, "es");
    await page.reload();
    await expectText(page.locator("h1"), "Iniciar sesión");
    await signIn(page, tests.demo.url, editor.username, editor.password);
    await expectText(page.locator("h1"), "Notas");
    await expectText(page.locator("#role-summary"), text("es", "notes.summary.write"));

    // The language is the only thing kept in web storage: tokens stay in memory.
    const storage = await page.evaluate("JSON.stringify({ ...localStorage, ...sessionStorage })");
    expect(JSON.parse(storage as string)).toEqual({ "sello-demo-language": "es" });

    await page.locator('[data-language="en"]').click();
    await expectText(page.locator("h1"), "Notes");
    await expectText(page.locator("#role-summary"), text("en", "notes.summary.write"));
    await expectSignedIn(page, editor.username);
    await expectText(page.locator("#signed-in-as"), "Signed in as editor (editor)");
  });

  it("Spanish for any es browser locale", async () => {
    const context = await tests.newContext("es", "es-MX");
    const page = await context.newPage();
    await page.goto(tests.demo.url);

    await expectText(page.locator("h1"), "Iniciar sesión");
  });

  for (const language of ["en", "es"] as const) {
    it(`every page in ${language === "en" ? "English" : "Spanish"}`, async () => {
      const context = await tests.newContext(language);
      const page = await context.newPage();
      await page.goto(tests.demo.url);
      await expectText(page.locator("h1"), text(language, "login.title"));
      await expectText(page.locator("#demo-account-rows tr").nth(2), /viewer/);
      await expectNoDictionaryKeys(page);
      await screenshot(page, `${language}-login`);

      await page.locator("#username").fill(admin.username);
      await page.locator("#password").fill("wrong password");
      await page.locator("#login-submit").click();
      await expectText(page.locator("#login-error"), text(language, "error.invalid_credentials"));
      await screenshot(page, `${language}-login-error`);

      await signIn(page, tests.demo.url, admin.username, admin.password);
      await expectLanguage(page, language);
      await expectText(page.locator("h1"), text(language, "notes.title"));
      await noteTexts(page);
      await expectNoDictionaryKeys(page);
      await screenshot(page, `${language}-notes`);

      await page.locator('a[href="/admin"]').click();
      await page.waitForURL(`${tests.demo.url}/admin`);
      await expectText(page.locator("h1"), text(language, "admin.title"));
      await page
        .getByRole("button", {
          name: text(language, "admin.users.showSessionsLabel", { username: admin.username }),
        })
        .click();
      await expectText(
        page.locator("#sessions-title"),
        text(language, "admin.sessions.title", { username: admin.username }),
      );
      await expectText(page.locator("#audit tr").first(), /\S/);
      await expectNoDictionaryKeys(page);
      await screenshot(page, `${language}-admin`);

      await page.locator('a[href="/jquery"]').click();
      await page.waitForURL(`${tests.demo.url}/jquery`);
      await expectText(page.locator("h1"), text(language, "jquery.title"));
      await noteTexts(page);
      await expectNoDictionaryKeys(page);
      await screenshot(page, `${language}-jquery`);

      const viewerContext = await tests.newContext(language);
      const viewerPage = await viewerContext.newPage();
      await signIn(viewerPage, tests.demo.url, viewer.username, viewer.password);
      await noteTexts(viewerPage);
      await viewerPage.locator("#note-text").fill("Denied");
      await viewerPage.locator("#note-submit").click();
      await expectText(viewerPage.locator("#form-error"), text(language, "notes.new.denied"));
      await screenshot(viewerPage, `${language}-notes-viewer-denied`);
    });
  }
});
