import { isIP } from "node:net";
import { resolve } from "node:path";
import { parseDuration } from "@sello/core";
import { InvalidSettingError } from "./errors.js";

/** Values a parser needs besides the text itself. */
export interface ParseContext {
  /** Folder that relative paths are resolved against. */
  readonly cwd: string;
}

/** Converts the text of one setting to its typed value, or throws an InvalidSettingError. */
export type Parser<T> = (text: string, context: ParseContext) => T;

/** Database connection settings derived from SELLO_DATABASE_URL. */
export type DatabaseConfig =
  | {
      readonly driver: "sqlite";
      /** Absolute path of the database file, or `:memory:` for an in-memory database. */
      readonly filename: string;
    }
  | {
      readonly driver: "postgres";
      /** The connection URL as given, credentials included. */
      readonly url: string;
    };

const DURATION_UNITS: readonly [string, number][] = [
  ["d", 86_400],
  ["h", 3600],
  ["m", 60],
];

/** Formats seconds with the largest unit that divides them evenly: `86400` becomes `1d`. */
export function formatDuration(seconds: number): string {
  for (const [unit, size] of DURATION_UNITS) {
    if (seconds > 0 && seconds % size === 0) {
      return `${seconds / size}${unit}`;
    }
  }
  return `${seconds}s`;
}

/** Joins words as an English list: `a, b or c`. */
export function formatChoices(values: readonly string[]): string {
  if (values.length <= 1) {
    return values.join("");
  }
  return `${values.slice(0, -1).join(", ")} or ${values.at(-1)}`;
}

export function enumParser<const V extends string>(allowed: readonly V[]): Parser<V> {
  const reason = `must be ${formatChoices(allowed)} (exact, case-sensitive)`;
  return (text) => {
    if ((allowed as readonly string[]).includes(text)) {
      return text as V;
    }

    const sameIgnoringCase = allowed.find((value) => value.toLowerCase() === text.toLowerCase());
    if (sameIgnoringCase !== undefined) {
      throw new InvalidSettingError(`${reason}, so write ${sameIgnoringCase}`);
    }
    throw new InvalidSettingError(reason);
  };
}

export function integerParser(min: number, max: number, example: number): Parser<number> {
  const reason = `must be an integer from ${min} to ${max}, such as ${example}`;
  return (text) => {
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidSettingError(reason);
    }
    return value;
  };
}

/** Parses a duration into whole seconds within `[min, max]`, both in seconds. */
export function durationParser(min: number, max: number, example: string): Parser<number> {
  const range = `from ${formatDuration(min)} to ${formatDuration(max)}`;
  const reason = `must be a duration ${range}, in whole seconds or with a unit (s, m, h, d, w), such as ${example}`;
  return (text) => {
    let seconds: number;
    try {
      seconds = parseDuration(text);
    } catch {
      throw new InvalidSettingError(reason);
    }

    if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
      throw new InvalidSettingError(reason);
    }
    return seconds;
  };
}

/** Splits a comma-separated list, trims each entry and drops repeated entries. */
export function splitList(text: string): string[] {
  const entries = text.split(",").map((entry) => entry.trim());
  if (entries.some((entry) => entry === "")) {
    throw new InvalidSettingError(
      "must be a comma-separated list without empty entries; remove the extra comma",
    );
  }
  return [...new Set(entries)];
}

const HOSTNAME_PATTERN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export const parseHost: Parser<string> = (text) => {
  if (text.startsWith("[") && text.endsWith("]")) {
    throw new InvalidSettingError("must be an IPv6 address without brackets, such as ::1");
  }
  if (isIP(text) === 0 && !HOSTNAME_PATTERN.test(text)) {
    throw new InvalidSettingError(
      "must be an IP address or host name to listen on, such as 127.0.0.1, 0.0.0.0 or ::",
    );
  }
  return text;
};

/**
 * Parses an absolute http(s) URL without credentials, query or fragment, and returns it
 * normalised by the WHATWG URL parser with any trailing slash removed.
 */
export const parsePublicUrl: Parser<string> = (text) => {
  const example = "such as https://auth.example.com";
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new InvalidSettingError(`must be an absolute http or https URL, ${example}`);
  }
  if (text.includes("?") || text.includes("#")) {
    throw new InvalidSettingError(`must not contain a query or fragment, ${example}`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new InvalidSettingError(`must not contain a user name or password, ${example}`);
  }
  return url.href.replace(/\/+$/, "");
};

/** Parses audience values: any non-empty strings without spaces. */
export const parseAudience: Parser<string[]> = (text) => {
  const audience = splitList(text);
  if (audience.some((value) => /\s/.test(value))) {
    throw new InvalidSettingError(
      "must be a comma-separated list of values without spaces, such as https://api.example.com",
    );
  }
  return audience;
};

export const parseClientId: Parser<string> = (text) => {
  if (!/^[\x21-\x7e]{1,255}$/.test(text)) {
    throw new InvalidSettingError(
      "must be 1 to 255 printable ASCII characters without spaces, such as sello-web",
    );
  }
  return text;
};

/** Parses a file or folder path and resolves it against the working directory. */
export const parsePath: Parser<string> = (text, context) => {
  if (text.includes("\0")) {
    throw new InvalidSettingError("must be a file path without NUL characters");
  }
  return resolve(context.cwd, text);
};

/** Parses a secret. The value is never echoed in a message. */
export const parseSecret: Parser<string> = (text) => {
  if (text.trim() === "") {
    throw new InvalidSettingError("must not consist of whitespace only", false);
  }
  return text;
};

/** Accepts any text. Values that need checks beyond presence are checked where they are used. */
export const parseText: Parser<string> = (text) => text;

/** Replaces the password in a `scheme://user:password@host` URL with `***`. */
export function redactUrlPassword(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#@]*@/i, "$1:***@");
}

export const parseDatabaseUrl: Parser<DatabaseConfig> = (text, context) => {
  const forms = "sqlite:PATH (such as sqlite:var/sello.db), sqlite::memory: or a postgres:// URL";
  if (text.startsWith("sqlite:")) {
    const path = text.slice("sqlite:".length);
    if (path === ":memory:") {
      return { driver: "sqlite", filename: ":memory:" };
    }
    if (path === "" || path.startsWith("//")) {
      throw new InvalidSettingError(
        `must be ${forms}; write the path right after "sqlite:", as in sqlite:/srv/sello/sello.db`,
      );
    }
    return { driver: "sqlite", filename: parsePath(path, context) };
  }

  const isPostgres = text.startsWith("postgres://") || text.startsWith("postgresql://");
  if (!isPostgres || !URL.canParse(text)) {
    throw new InvalidSettingError(`must be ${forms}`);
  }
  return { driver: "postgres", url: text };
};

/** Parses the deployment name used in Redis keys. */
export const parseRedisPrefix: Parser<string> = (text) => {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(text)) {
    throw new InvalidSettingError(
      'must be 1 to 64 letters, digits, "_" or "-", such as "production"',
    );
  }
  return text;
};

export const parseRedisUrl: Parser<string> = (text) => {
  const url = URL.canParse(text) ? new URL(text) : undefined;
  const isRedis = url?.protocol === "redis:" || url?.protocol === "rediss:";
  if (url === undefined || !isRedis || url.hostname === "") {
    throw new InvalidSettingError(
      "must be a redis:// or rediss:// (TLS) URL with a host, such as redis://127.0.0.1:6379",
    );
  }
  return text;
};

/** Parses browser origins (`scheme://host[:port]`) and returns them in `URL.origin` form. */
export const parseOrigins: Parser<string[]> = (text) => {
  const origins = splitList(text).map((entry) => {
    if (entry === "*") {
      throw new InvalidSettingError(
        'must not be "*", because browsers send the refresh cookie with credentialed requests ' +
          "and every site could then call the API as the user; list each origin, such as https://app.example.com",
      );
    }
    return parseOrigin(entry);
  });
  return [...new Set(origins)];
};

function parseOrigin(entry: string): string {
  const reason = `must list origins (scheme://host[:port], no path), such as https://app.example.com; "${entry}" is not one`;
  const url = URL.canParse(entry) ? new URL(entry) : undefined;
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new InvalidSettingError(reason);
  }

  const hasExtras = url.username !== "" || url.password !== "" || /[?#]/.test(entry);
  if (hasExtras || url.pathname !== "/") {
    throw new InvalidSettingError(reason);
  }
  return url.origin;
}

/** Names of address ranges that proxy-addr (used by Fastify's trustProxy) expands itself. */
export const TRUST_PROXY_RANGE_NAMES = ["loopback", "linklocal", "uniquelocal"] as const;

const TRUST_EVERY_PEER_REASON =
  "must not trust every peer, because any client could then forge its IP address in " +
  "X-Forwarded-For and slip past the per-IP login limit; list the addresses of your proxies, " +
  "such as 10.0.0.5 or 10.0.0.0/8";

/**
 * Parses trusted proxy entries in the forms proxy-addr accepts: an IP address, an address with
 * a prefix length (`10.0.0.0/8`) or an IPv4 netmask (`10.0.0.0/255.0.0.0`), or a range name.
 */
export const parseTrustProxy: Parser<string[]> = (text) => {
  const entries = splitList(text);
  for (const entry of entries) {
    checkTrustProxyEntry(entry);
  }
  return entries;
};

function checkTrustProxyEntry(entry: string): void {
  if (entry === "true" || entry === "*") {
    throw new InvalidSettingError(TRUST_EVERY_PEER_REASON);
  }
  if ((TRUST_PROXY_RANGE_NAMES as readonly string[]).includes(entry)) {
    return;
  }

  const slash = entry.lastIndexOf("/");
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const version = isIP(address);
  if (version !== 4 && version !== 6) {
    throw new InvalidSettingError(
      `must list IP addresses, CIDR ranges or the names ${formatChoices(TRUST_PROXY_RANGE_NAMES)}; "${entry}" is none of these`,
    );
  }
  if (slash === -1) {
    return;
  }

  const prefix = prefixLength(entry.slice(slash + 1), version);
  if (prefix === 0) {
    throw new InvalidSettingError(TRUST_EVERY_PEER_REASON);
  }
  if (prefix === undefined) {
    throw new InvalidSettingError(
      `must give each range a prefix length from 1 to ${version === 4 ? 32 : 128}, such as 10.0.0.0/8; "${entry}" has an invalid one`,
    );
  }
}

/** Reads a prefix length or a contiguous IPv4 netmask; returns undefined when it is invalid. */
function prefixLength(text: string, version: 4 | 6): number | undefined {
  const max = version === 4 ? 32 : 128;
  if (/^\d+$/.test(text)) {
    const length = Number(text);
    return length <= max ? length : undefined;
  }
  if (version !== 4 || isIP(text) !== 4) {
    return undefined;
  }

  const bits = text
    .split(".")
    .map((octet) => Number(octet).toString(2).padStart(8, "0"))
    .join("");
  if (!/^1*0*$/.test(bits)) {
    return undefined;
  }
  const firstZero = bits.indexOf("0");
  return firstZero === -1 ? 32 : firstZero;
}
