import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { DEMO_USERS } from "../src/demo-users.js";
import {
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
import { TEST_PASSWORD } from "./helpers/demo.js";

const admin = DEMO_USERS.find((user) => user.role === "admin") as (typeof DEMO_USERS)[number];

/** Time from a page load to the client's renewal: half the 30-second token lifetime. */
const RENEWAL_DELAY_MS = 15_000;

/** Runs `action` and returns the bearer token of the page's next request to `path`. */
async function nextBearerToken(page: Page, path: string, action: () => Promise<void>) {
  const request = page.waitForRequest((candidate) => new URL(candidate.url()).pathname === path);
  await action();
  const authorization = (await request).headers().authorization ?? "";
  expect(authorization).toMatch(/^Bearer \S+$/);
  return authorization.slice("Bearer ".length);
}

async function addNote(page: Page, note: string): Promise<void> {
  await page.locator("#note-text").fill(note);
  await page.locator("#note-submit").click();
}

/** Waits until the page shows the login page with the message that the session has ended. */
async function expectSessionEnded(page: Page, baseUrl: string, next: string, language: Language) {
  await page.waitForURL(`${baseUrl}/?next=${encodeURIComponent(next)}&reason=ended`);
  await expectText(page.locator("#notice"), text(language, "login.reason.ended"));
  await expectText(page.locator("h1"), text(language, "login.title"));
}

describe.skipIf(skipBrowserTests)("demo sessions", () => {
  const tests = setUpDemoTests();

  it("reload keeps the session", async () => {
    const user = await tests.newUser("reload", "viewer");
    const context = await tests.newContext("en");
    const page = await context.newPage();
    await signIn(page, tests.demo.url, user.username, TEST_PASSWORD);

    await page.reload();

    await expectSignedIn(page, user.username);
    expect(page.url()).toBe(`${tests.demo.url}/notes`);
    await noteTexts(page);
    expect(await page.locator("#list-error").textContent()).toBe("");
  });

  it(
    "renews the token while the page stays open",
    async () => {
      const user = await tests.newUser("renewal", "editor");
      const context = await tests.newContext("en");
      const page = await context.newPage();
      const firstToken = await nextBearerToken(page, "/api/notes", () =>
        signIn(page, tests.demo.url, user.username, TEST_PASSWORD),
      );
      const loadedAt = Date.now();

      // No user action: the client's timer renews the token at half its lifetime.
      const renewal = await page.waitForResponse(
        (response) => new URL(response.url()).pathname === "/auth/refresh",
        { timeout: RENEWAL_DELAY_MS + 15_000 },
      );
      expect(renewal.status()).toBe(200);
      expect(Date.now() - loadedAt).toBeGreaterThan(RENEWAL_DELAY_MS - 5_000);

      const renewedToken = await nextBearerToken(page, "/api/notes", () =>
        addNote(page, "Written after the renewal"),
      );
      await expectText(page.locator("#form-status"), "Note added.");
      expect(renewedToken).not.toBe(firstToken);
      expect(page.url()).toBe(`${tests.demo.url}/notes`);
    },
    RENEWAL_DELAY_MS + 45_000,
  );

  it("logout in one tab ends the other", async () => {
    const user = await tests.newUser("two-tabs", "editor");
    const context = await tests.newContext("en");
    const first = await context.newPage();
    await signIn(first, tests.demo.url, user.username, TEST_PASSWORD);
    const second = await context.newPage();
    await second.goto(`${tests.demo.url}/jquery`);
    await expectSignedIn(second, user.username);

    await first.locator("#logout").click();

    await first.waitForURL(`${tests.demo.url}/?reason=signed-out`);
    await expectText(first.locator("#notice"), "You have signed out.");
    // The other tab leaves at once, on the logout message from this tab.
    await second.waitForURL(`${tests.demo.url}/?next=%2Fjquery&reason=signed-out`, {
      waitUntil: "commit",
      timeout: 3_000,
    });
    await expectText(second.locator("#notice"), "You have signed out.");

    // The server ended the session too: the refresh cookie no longer restores it.
    await second.goto(`${tests.demo.url}/notes`);
    await second.waitForURL(`${tests.demo.url}/?next=%2Fnotes`);
    await expectText(second.locator("h1"), "Sign in");
  });

  it("admin revokes all sessions of a user", async () => {
    const user = await tests.newUser("revoke-all", "editor");
    const userContext = await tests.newContext("es");
    const userPage = await userContext.newPage();
    await signIn(userPage, tests.demo.url, user.username, TEST_PASSWORD);
    await noteTexts(userPage);

    const adminContext = await tests.newContext("en");
    const adminPage = await adminContext.newPage();
    await signIn(adminPage, tests.demo.url, admin.username, admin.password, "/admin");
    await adminPage.getByRole("button", { name: `Show the sessions of ${user.username}` }).click();
    await expectText(adminPage.locator("#sessions-title"), `Sessions of ${user.username}`);
    expect(await adminPage.locator("#sessions tr").count()).toBe(1);
    await screenshot(adminPage, "en-admin-sessions");
    await adminPage
      .getByRole("button", { name: `Revoke all sessions of ${user.username}` })
      .click();

    await expectText(
      adminPage.locator("#sessions-status"),
      text("en", "admin.sessions.revokedAll", { username: user.username, count: 1 }),
    );
    await expectText(
      adminPage.locator("#sessions-empty"),
      `${user.username} has no active session.`,
    );
    await expectText(adminPage.locator("#audit tr").first(), /admin\.sessions_revoked/);
    await screenshot(adminPage, "en-admin-revoked");

    await addNote(userPage, "Sent after the revocation");
    await expectSessionEnded(userPage, tests.demo.url, "/notes", "es");
    await screenshot(userPage, "es-login-session-ended");
    const stored = await tests.demo.demo.notes.list();
    expect(stored.some((note) => note.text === "Sent after the revocation")).toBe(false);
  });

  it("admin revokes one session of a user", async () => {
    const user = await tests.newUser("revoke-one", "editor");
    const laptop = await (await tests.newContext("en")).newPage();
    await signIn(laptop, tests.demo.url, user.username, TEST_PASSWORD);
    const phone = await (await tests.newContext("en")).newPage();
    await signIn(phone, tests.demo.url, user.username, TEST_PASSWORD);

    const adminPage = await (await tests.newContext("es")).newPage();
    await signIn(adminPage, tests.demo.url, admin.username, admin.password, "/admin");
    await adminPage
      .getByRole("button", { name: `Mostrar las sesiones de ${user.username}` })
      .click();
    await expectText(adminPage.locator("#sessions-title"), `Sesiones de ${user.username}`);
    expect(await adminPage.locator("#sessions tr").count()).toBe(2);
    // Sessions are listed oldest first, so the first row is the laptop's.
    await adminPage.locator("#sessions tr").first().getByRole("button").click();
    await expectText(adminPage.locator("#sessions-status"), text("es", "admin.sessions.revoked"));
    await expectText(adminPage.locator("#sessions tr").first(), /\S/);
    expect(await adminPage.locator("#sessions tr").count()).toBe(1);

    await addNote(laptop, "From the revoked laptop");
    await expectSessionEnded(laptop, tests.demo.url, "/notes", "en");
    await addNote(phone, "From the phone");
    await expectText(phone.locator("#form-status"), "Note added.");
    expect((await noteTexts(phone))[0]).toBe("From the phone");
  });

  it("jQuery page opens the login page after revocation", async () => {
    const user = await tests.newUser("jquery-revoked", "editor");
    const page = await (await tests.newContext("en")).newPage();
    await signIn(page, tests.demo.url, user.username, TEST_PASSWORD, "/jquery");
    await noteTexts(page);

    await tests.demo.demo.server.auth.revokeAllSessions(user.id, "admin_revoked");
    await addNote(page, "Sent with $.ajax after the revocation");

    await expectSessionEnded(page, tests.demo.url, "/jquery", "en");
    await page.locator("#username").fill(user.username);
    await page.locator("#password").fill(TEST_PASSWORD);
    await page.locator("#login-submit").click();
    await page.waitForURL(`${tests.demo.url}/jquery`);
    await expectSignedIn(page, user.username);
  });
});
