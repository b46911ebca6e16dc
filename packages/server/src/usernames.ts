import { SelloError } from "@sello/core";

/** The minimum username length, in Unicode code points after normalisation. */
export const MIN_USERNAME_LENGTH = 3;

/** The maximum username length, in Unicode code points after normalisation. */
export const MAX_USERNAME_LENGTH = 64;

// Longer input is rejected as too long before normalising, which bounds the work on hostile input.
const MAX_RAW_USERNAME_UNITS = 1024;

/**
 * The scripts whose letters a username may use. Letters from any other script (historic scripts,
 * symbols that Unicode classes as letters) are rejected, so the one-script rule covers a known set.
 */
export const USERNAME_SCRIPTS = [
  "Latin",
  "Greek",
  "Cyrillic",
  "Armenian",
  "Georgian",
  "Hebrew",
  "Arabic",
  "Thaana",
  "Ethiopic",
  "Devanagari",
  "Bengali",
  "Gurmukhi",
  "Gujarati",
  "Oriya",
  "Tamil",
  "Telugu",
  "Kannada",
  "Malayalam",
  "Sinhala",
  "Thai",
  "Lao",
  "Tibetan",
  "Myanmar",
  "Khmer",
  "Mongolian",
  "Han",
  "Hiragana",
  "Katakana",
  "Bopomofo",
  "Hangul",
] as const;

type UsernameScript = (typeof USERNAME_SCRIPTS)[number];

const SCRIPT_PATTERNS = USERNAME_SCRIPTS.map(
  (script) => [script, new RegExp(`^\\p{Script_Extensions=${script}}$`, "u")] as const,
);

// Chinese, Japanese and Korean writing combine Han with Bopomofo, kana or Hangul, so each of these
// scripts maps to the writing systems it belongs to, and a name passes when its letters share one.
const WRITING_SYSTEMS: Partial<Record<UsernameScript, readonly string[]>> = {
  Han: ["Chinese", "Japanese", "Korean"],
  Bopomofo: ["Chinese"],
  Hiragana: ["Japanese"],
  Katakana: ["Japanese"],
  Hangul: ["Korean"],
};

/**
 * A name that the full rules accept unchanged apart from ASCII case: 3 to 64 ASCII letters,
 * digits and `._@-`, starting and ending with a letter or digit. NFKC leaves ASCII as it is, so
 * lowercasing is all its normalisation needs, and most logins skip the Unicode checks.
 */
const PLAIN_ASCII_USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{1,62}[A-Za-z0-9]$/;

const ALLOWED_CHARACTER = /^[\p{L}\p{M}\p{Nd}._@-]$/u;
const LETTER = /^\p{L}$/u;
const MARK = /^\p{M}$/u;
const LETTER_OR_DIGIT = /^[\p{L}\p{Nd}]$/u;
const LETTER_MARK_OR_DIGIT = /^[\p{L}\p{M}\p{Nd}]$/u;
const SCRIPT_NEUTRAL = /^[\p{Script_Extensions=Common}\p{Script_Extensions=Inherited}]$/u;
// Default-ignorable code points such as U+3164 HANGUL FILLER are letters that render as nothing.
const INVISIBLE = /^\p{Default_Ignorable_Code_Point}$/u;
const VISIBLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const SPACE = /^\s$/u;

/**
 * Normalises a username for storage and lookup, and throws `SelloError("validation_failed")`
 * naming the broken rule when it is invalid. The steps are: trim, NFKC, lowercase, NFKC again.
 * Inputs that differ only by case, width (fullwidth letters) or compatibility forms (ligatures,
 * mathematical letters) therefore normalise to the same string.
 *
 * The result must be {@link MIN_USERNAME_LENGTH} to {@link MAX_USERNAME_LENGTH} code points long
 * and contain only letters, combining marks, decimal digits and `.` `_` `-` `@`. It must start
 * and end with a letter or digit (a mark may end it). Its letters must come from one script of
 * {@link USERNAME_SCRIPTS}, where Han may join Bopomofo, kana or Hangul, so `pаypal` with a
 * Cyrillic `а` is rejected. `reason` is one of `username_type`, `username_length`,
 * `username_character`, `username_edge`, `username_script` or `username_mixed_scripts`.
 */
export function normaliseUsername(input: string): string {
  if (typeof input !== "string") {
    throw invalid("username_type", "The username must be a string.");
  }

  if (PLAIN_ASCII_USERNAME.test(input)) {
    return input.toLowerCase();
  }

  const trimmed = input.trim();
  if (trimmed.length > MAX_RAW_USERNAME_UNITS) {
    throw lengthError();
  }

  const normalised = trimmed.normalize("NFKC").toLowerCase().normalize("NFKC");
  const characters = [...normalised];
  if (characters.length < MIN_USERNAME_LENGTH || characters.length > MAX_USERNAME_LENGTH) {
    throw lengthError();
  }

  checkCharacters(characters);
  checkEdges(characters);
  checkSingleScript(characters);
  return normalised;
}

function checkCharacters(characters: string[]): void {
  let previous = "";
  for (const character of characters) {
    if (!ALLOWED_CHARACTER.test(character) || INVISIBLE.test(character)) {
      throw invalid(
        "username_character",
        `The username contains ${describeCharacter(character)}, which is not allowed. Use letters, digits and the characters . _ - @.`,
      );
    }

    // A combining mark after punctuation or a digit would stack accents on symbols.
    if (MARK.test(character) && !LETTER.test(previous) && !MARK.test(previous)) {
      throw invalid(
        "username_character",
        `The username contains the combining mark ${describeCharacter(character)} after something other than a letter.`,
      );
    }

    previous = character;
  }
}

function checkEdges(characters: string[]): void {
  const first = characters[0] ?? "";
  const last = characters[characters.length - 1] ?? "";
  if (!LETTER_OR_DIGIT.test(first) || !LETTER_MARK_OR_DIGIT.test(last)) {
    throw invalid("username_edge", "The username must start and end with a letter or digit.");
  }
}

// NOTE: a name written wholly in one script can still look like a name in another, such as an
// all-Cyrillic "аре" beside the Latin "ape". This check does not detect such lookalikes.
function checkSingleScript(characters: string[]): void {
  let shared: Set<string> | undefined;
  let firstScript: UsernameScript | undefined;

  for (const character of characters) {
    const isLetter = LETTER.test(character);
    if (!isLetter && SCRIPT_NEUTRAL.test(character)) {
      continue;
    }

    const scripts = scriptsOf(character);
    if (scripts.length === 0) {
      throw invalid(
        "username_script",
        `The username contains ${describeCharacter(character)}, from a script that usernames do not support.`,
      );
    }

    const systems = new Set(scripts.flatMap((script) => WRITING_SYSTEMS[script] ?? [script]));
    const remaining: Set<string> = shared === undefined ? systems : intersect(shared, systems);
    if (remaining.size === 0) {
      throw invalid(
        "username_mixed_scripts",
        `The username mixes ${firstScript} and ${scripts[0]} letters. Use letters from one script.`,
      );
    }

    shared = remaining;
    firstScript ??= scripts[0];
  }
}

function scriptsOf(character: string): UsernameScript[] {
  const scripts: UsernameScript[] = [];
  for (const [script, pattern] of SCRIPT_PATTERNS) {
    if (pattern.test(character)) {
      scripts.push(script);
    }
  }
  return scripts;
}

function intersect(left: Set<string>, right: Set<string>): Set<string> {
  const result = new Set<string>();
  for (const item of left) {
    if (right.has(item)) {
      result.add(item);
    }
  }
  return result;
}

function describeCharacter(character: string): string {
  const codePoint = (character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
  if (SPACE.test(character)) {
    return `a space (U+${codePoint})`;
  }
  if (VISIBLE.test(character) && !INVISIBLE.test(character)) {
    return `"${character}" (U+${codePoint})`;
  }
  return `the invisible character U+${codePoint}`;
}

function lengthError(): SelloError {
  return invalid(
    "username_length",
    `The username must be ${MIN_USERNAME_LENGTH} to ${MAX_USERNAME_LENGTH} characters long.`,
  );
}

function invalid(reason: string, message: string): SelloError {
  return new SelloError("validation_failed", { message, reason });
}
