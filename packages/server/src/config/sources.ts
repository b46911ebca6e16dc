import { readFileSync } from "node:fs";
import { redactUrlPassword } from "./parsers.js";
import { SETTINGS, type SettingDefinition, type SettingKey } from "./settings.js";

/** The environment variable that names the optional JSON config file. */
export const CONFIG_FILE_VARIABLE = "SELLO_CONFIG";

/** Origin of a setting's value: its default, the config file or the environment. */
export type SettingSource = "default" | "file" | "env";

/** A setting's text as read from the environment or the config file, before parsing. */
export interface RawSetting {
  readonly source: "env" | "file";
  /** Name used in messages: the variable, or the file key with the file's path. */
  readonly label: string;
  readonly text: string;
  /** Value as quoted in messages, or undefined for secrets. */
  readonly quotedValue: string | undefined;
  /** Set instead of `text` when a file value has the wrong JSON type. */
  readonly typeProblem?: string;
}

const MAX_QUOTED_LENGTH = 80;

/** Quotes a rejected value for a message, with any URL password masked and long text cut. */
function quoteValue(value: unknown): string {
  const text = typeof value === "string" ? redactUrlPassword(value) : value;
  const quoted = JSON.stringify(text) ?? String(text);
  return quoted.length > MAX_QUOTED_LENGTH ? `${quoted.slice(0, MAX_QUOTED_LENGTH)}…` : quoted;
}

/** Reads every setting that has a non-empty environment variable. */
export function readEnvironment(env: NodeJS.ProcessEnv): Map<SettingKey, RawSetting> {
  const settings = new Map<SettingKey, RawSetting>();
  for (const definition of SETTINGS) {
    const value = env[definition.env];
    const text = definition.secret ? value : value?.trim();
    if (text === undefined || text === "") {
      continue;
    }

    settings.set(definition.fileKey, {
      source: "env",
      label: definition.env,
      text,
      quotedValue: definition.secret ? undefined : quoteValue(value),
    });
  }
  return settings;
}

/**
 * Reads the JSON config file at `path`. Problems with the file as a whole (unreadable, invalid
 * JSON, unknown keys) are appended to `problems`. A value of the wrong JSON type is returned
 * with a `typeProblem`, which is reported only if no environment variable overrides it.
 */
export function readConfigFile(path: string, problems: string[]): Map<SettingKey, RawSetting> {
  const settings = new Map<SettingKey, RawSetting>();
  const document = readJsonDocument(path, problems);
  if (document === undefined) {
    return settings;
  }

  for (const [key, value] of Object.entries(document)) {
    const definition = SETTINGS.find((candidate) => candidate.fileKey === key);
    if (definition === undefined) {
      problems.push(unknownKeyProblem(key, path));
      continue;
    }

    const raw = fileValue(definition, value, `"${key}" in ${path}`);
    if (raw !== undefined) {
      settings.set(definition.fileKey, raw);
    }
  }
  return settings;
}

function readJsonDocument(path: string, problems: string[]): Record<string, unknown> | undefined {
  const label = `${CONFIG_FILE_VARIABLE} names ${path}, which`;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    problems.push(
      `${label} cannot be read (${describeFileError(error)}); fix the path or its permissions, or unset ${CONFIG_FILE_VARIABLE}.`,
    );
    return undefined;
  }

  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    problems.push(
      `${label} is not valid JSON (${describeJsonError(error, text)}); fix the syntax.`,
    );
    return undefined;
  }

  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    problems.push(`${label} must contain a JSON object, such as {"port": 3000}.`);
    return undefined;
  }
  return document as Record<string, unknown>;
}

/** Describes a file system error by its code, which is clearer than Node's message. */
export function describeFileError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a folder, not a file";
    default:
      return code ?? String(error);
  }
}

/**
 * Describes a JSON syntax error without quoting the input, because the file may contain secrets.
 * V8 quotes part of the input in its "Unexpected token" messages, so those are replaced. Other
 * messages keep their wording, with the offset turned into a line and column.
 */
function describeJsonError(error: unknown, text: string): string {
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith("Unexpected token") || message.includes('"')) {
    return "unexpected character";
  }

  return message.replace(/ at position (\d+)$/, (_match, offset: string) => {
    const before = text.slice(0, Number(offset));
    const line = before.split("\n").length;
    const column = Number(offset) - before.lastIndexOf("\n");
    return ` at line ${line}, column ${column}`;
  });
}

function unknownKeyProblem(key: string, path: string): string {
  const byEnv = SETTINGS.find((definition) => definition.env === key);
  const suggestion =
    byEnv?.fileKey ??
    closestName(
      key,
      SETTINGS.map((definition) => definition.fileKey),
    );
  const fix =
    suggestion === undefined
      ? "remove it; docs/configuration.md lists the valid keys"
      : `use "${suggestion}" or remove it`;
  return `${path} contains the unknown key "${key}"; ${fix}.`;
}

/** Converts one file value to text, or returns undefined when it is empty and so unset. */
function fileValue(
  definition: SettingDefinition,
  value: unknown,
  label: string,
): RawSetting | undefined {
  const quotedValue = definition.secret ? undefined : quoteValue(value);
  let text: string | undefined;
  if (typeof value === "string") {
    text = definition.secret ? value : value.trim();
  } else if (typeof value === "number" && !definition.secret) {
    text = String(value);
  } else if (definition.list && Array.isArray(value) && value.every((v) => typeof v === "string")) {
    text = value.join(",");
  }

  if (text === undefined) {
    const typeProblem = fileTypeProblem(definition, label, quotedValue);
    return { source: "file", label, text: "", quotedValue, typeProblem };
  }
  return text === "" ? undefined : { source: "file", label, text, quotedValue };
}

function fileTypeProblem(
  definition: SettingDefinition,
  label: string,
  quotedValue: string | undefined,
): string {
  let expected = "a JSON string or number";
  if (definition.secret) {
    expected = "a JSON string";
  } else if (definition.list) {
    expected = 'a JSON array of strings or a comma-separated string, such as ["a", "b"]';
  }
  return quotedValue === undefined
    ? `${label} must be ${expected}.`
    : `${label} must be ${expected}; got ${quotedValue}.`;
}

/**
 * Lists `SELLO_*` variables that are not settings but are close to one, which suggests a typo.
 * Other `SELLO_*` variables are left alone, because other Sello programs may define them.
 */
export function findMisspelledVariables(env: NodeJS.ProcessEnv): string[] {
  const known = new Set<string>([CONFIG_FILE_VARIABLE, ...SETTINGS.map((s) => s.env)]);
  const warnings: string[] = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith("SELLO_") || known.has(name)) {
      continue;
    }

    const suggestion = closestName(name, [...known]);
    if (suggestion !== undefined) {
      warnings.push(`${name} is not a Sello setting and is ignored; did you mean ${suggestion}?`);
    }
  }
  return warnings;
}

/** Returns the candidate equal to `name` ignoring case, or within two edits of it. */
function closestName(name: string, candidates: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  const sameIgnoringCase = candidates.find((candidate) => candidate.toLowerCase() === lower);
  if (sameIgnoringCase !== undefined) {
    return sameIgnoringCase;
  }

  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance between two strings. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      const deletion = (previous[j] as number) + 1;
      const insertion = (current[j - 1] as number) + 1;
      current.push(Math.min(substitution, deletion, insertion));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
