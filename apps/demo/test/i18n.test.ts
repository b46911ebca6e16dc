import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CODES } from "@sello/core";
import { describe, expect, it } from "vitest";
import { PUBLIC_DIR } from "../src/pages.js";
import { REPO_ROOT } from "./helpers/demo.js";

type Dictionary = Record<string, unknown>;

const LANGUAGES = ["en", "es"] as const;

function readDictionary(language: string): Dictionary {
  return JSON.parse(readFileSync(join(PUBLIC_DIR, "i18n", `${language}.json`), "utf8"));
}

const dictionaries = Object.fromEntries(
  LANGUAGES.map((language) => [language, readDictionary(language)]),
) as Record<(typeof LANGUAGES)[number], Dictionary>;

/**
 * Reads the client-only error codes from the `ClientErrorCode` type of the browser client, so
 * that a code added there fails this test until both dictionaries have a message for it.
 */
function clientErrorCodes(): string[] {
  const source = readFileSync(join(REPO_ROOT, "packages", "client", "src", "errors.ts"), "utf8");
  const union = /export type ClientErrorCode =([^;]+);/.exec(source)?.[1];
  if (union === undefined) {
    throw new Error("packages/client/src/errors.ts no longer declares ClientErrorCode.");
  }
  return [...union.matchAll(/"([a-z_]+)"/g)].map((match) => match[1] as string);
}

function placeholders(text: string): string[] {
  return [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1] as string).sort();
}

/** Collects every dictionary key that the pages and scripts name literally. */
function keysUsedByPages(): Set<string> {
  const used = new Set<string>();
  const files = [
    ...readdirSync(PUBLIC_DIR).filter((name) => name.endsWith(".html")),
    ...readdirSync(join(PUBLIC_DIR, "js")).map((name) => join("js", name)),
  ];
  for (const file of files) {
    const source = readFileSync(join(PUBLIC_DIR, file), "utf8");
    for (const match of source.matchAll(/data-i18n(?:-label)?="([^"]+)"/g)) {
      used.add(match[1] as string);
    }
    for (const match of source.matchAll(
      /"((?:common|nav|header|login|notes|admin|jquery|error)\.[\w.]+)"/g,
    )) {
      used.add(match[1] as string);
    }
  }
  return used;
}

describe("dictionaries", () => {
  it("have the same keys", () => {
    const english = Object.keys(dictionaries.en).sort();
    const spanish = Object.keys(dictionaries.es).sort();

    expect(
      spanish.filter((key) => !english.includes(key)),
      "keys only in es.json",
    ).toEqual([]);
    expect(
      english.filter((key) => !spanish.includes(key)),
      "keys only in en.json",
    ).toEqual([]);
  });

  it("have a message for every error code", () => {
    const codes = [...ERROR_CODES, ...clientErrorCodes()];
    expect(clientErrorCodes()).toEqual(["network_error", "invalid_response", "not_logged_in"]);

    for (const language of LANGUAGES) {
      const missing = codes.filter((code) => dictionaries[language][`error.${code}`] === undefined);
      expect(missing, `error codes without a message in ${language}.json`).toEqual([]);
    }
  });

  it("contain non-empty strings", () => {
    for (const language of LANGUAGES) {
      const bad = Object.entries(dictionaries[language])
        .filter(([, value]) => typeof value !== "string" || value.trim() === "")
        .map(([key]) => key);
      expect(bad, `empty or non-string values in ${language}.json`).toEqual([]);
    }
  });

  it("use the same placeholders in both languages", () => {
    const mismatched = Object.keys(dictionaries.en).filter(
      (key) =>
        placeholders(String(dictionaries.en[key])).join() !==
        placeholders(String(dictionaries.es[key] ?? "")).join(),
    );
    expect(mismatched).toEqual([]);
  });

  it("have every key the pages use", () => {
    const used = keysUsedByPages();
    expect(used.size).toBeGreaterThan(80);

    const missing = [...used].filter((key) => dictionaries.en[key] === undefined);
    expect(missing).toEqual([]);
  });
});

describe("pages", () => {
  const pages = readdirSync(PUBLIC_DIR).filter((name) => name.endsWith(".html"));

  it("have no inline script or style", () => {
    expect(pages.sort()).toEqual(["admin.html", "jquery.html", "login.html", "notes.html"]);
    for (const page of pages) {
      const html = readFileSync(join(PUBLIC_DIR, page), "utf8");
      const inlineScripts = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>/g)].map((m) => m[0]);

      expect(inlineScripts, `${page}: script elements without src`).toEqual([]);
      expect(html, `${page}: style elements`).not.toMatch(/<style[\s>]/);
      expect(html, `${page}: style attributes`).not.toMatch(/\sstyle=/);
      expect(html, `${page}: inline event handlers`).not.toMatch(/\son[a-z]+=/);
      expect(html, `${page}: javascript: URLs`).not.toMatch(/javascript:/i);
    }
  });

  it("declare a language and translate the title", () => {
    for (const page of pages) {
      const html = readFileSync(join(PUBLIC_DIR, page), "utf8");

      expect(html, page).toMatch(/<html lang="en"/);
      expect(html, page).toMatch(/<title data-i18n="[a-z]+\.pageTitle">/);
      expect(html, page).toContain('<main id="main"');
    }
  });
});
