/**
 * Public-path matching. A guard protects every request it receives, except those whose path matches
 * one of its public paths. Matching is strict, because a path that the guard reads differently
 * from the framework's router could skip authentication:
 *
 * - the path is percent-decoded once and compared by whole segments, case-sensitively;
 * - a path that could be read in more than one way never matches. That covers empty segments
 *   (`//login`), dot segments (`.`, `..`, `%2e%2e`), an encoded `/` or `\` (`%2f`, `%5c`),
 *   a `%` left after decoding (double encoding such as `%252f`), invalid percent-encoding,
 *   matrix parameters (`;`), backslashes, and control or non-ASCII characters;
 * - the query string is ignored.
 *
 * A path that does not match is protected, so the failure mode of every rule is a 401, never an
 * open route.
 */

/** The characters a raw path may contain: RFC 3986 `pchar` and `/`, without `;`. */
const RAW_PATH = /^[A-Za-z0-9\-._~!$&'()*+,=:@%/]*$/;

/** Characters, besides control characters, that must not appear in a decoded segment. */
const FORBIDDEN_DECODED = /[/\\;%]/;

/**
 * Splits the path of a request target (`/a/b?query`) into percent-decoded segments. Returns
 * undefined when the path is ambiguous under the rules of this module. The root path `/` has
 * no segments, and a trailing slash gives a final empty segment, so `/a/` differs from `/a`.
 */
export function normalisePath(target: string): string[] | undefined {
  if (typeof target !== "string" || !target.startsWith("/")) {
    return undefined;
  }

  const end = firstIndexOf(target, "?", "#");
  const path = target.slice(0, end);
  if (!RAW_PATH.test(path)) {
    return undefined;
  }
  if (path === "/") {
    return [];
  }

  const rawSegments = path.slice(1).split("/");
  const segments: string[] = [];
  for (const [index, raw] of rawSegments.entries()) {
    const isLast = index === rawSegments.length - 1;
    if (raw === "") {
      if (!isLast) {
        return undefined;
      }
      segments.push("");
      continue;
    }

    const decoded = decodeSegment(raw);
    if (decoded === undefined || decoded === "." || decoded === "..") {
      return undefined;
    }
    segments.push(decoded);
  }
  return segments;
}

/**
 * Checks a list of public paths and returns a function that reports whether a request target
 * matches one of them. An entry is an exact path such as `/auth/login`, or a prefix written
 * `/docs/*`, which matches `/docs` and every path below it. Entries are written decoded and
 * compared case-sensitively.
 *
 * Throws a TypeError naming the entry when it is not a plain absolute path. An entry must start
 * with `/`. It must not contain a query, `%`, `;`, `\`, empty or dot segments, a trailing slash,
 * or a `*` other than a final `/*`. `/*` alone is rejected because it would make every path
 * public.
 */
export function compilePublicPaths(entries: readonly string[]): (target: string) => boolean {
  if (!Array.isArray(entries)) {
    throw new TypeError(
      'publicPaths must be an array of paths such as ["/health", "/auth/login", "/docs/*"].',
    );
  }

  const exact = new Set<string>();
  const prefixes: string[][] = [];
  for (const entry of entries) {
    const parsed = parseEntry(entry);
    if (parsed.prefix) {
      prefixes.push(parsed.segments);
    } else {
      exact.add(parsed.segments.join("/"));
    }
  }

  if (exact.size === 0 && prefixes.length === 0) {
    return () => false;
  }

  return (target) => {
    const segments = normalisePath(target);
    if (segments === undefined) {
      return false;
    }
    if (exact.has(segments.join("/"))) {
      return true;
    }
    return prefixes.some((prefix) => startsWithSegments(segments, prefix));
  };
}

function parseEntry(entry: unknown): { segments: string[]; prefix: boolean } {
  const invalid = (problem: string) =>
    new TypeError(
      `publicPaths entry ${JSON.stringify(entry)} ${problem}. Write a decoded absolute path such as "/auth/login", or "/docs/*" for a path and everything below it.`,
    );

  if (typeof entry !== "string" || !entry.startsWith("/")) {
    throw invalid("must be a string starting with /");
  }
  if (entry === "/*") {
    throw invalid("would make every path public; mount the guard on fewer routes instead");
  }

  const prefix = entry.endsWith("/*");
  const path = prefix ? entry.slice(0, -2) : entry;
  if (/[?#%;\\]/.test(path) || hasControlCharacter(path)) {
    throw invalid("contains ?, #, %, ;, \\ or a control character");
  }
  if (path.includes("*")) {
    throw invalid('may contain * only as a final "/*"');
  }
  if (path === "/") {
    return { segments: [], prefix };
  }

  const segments = path.slice(1).split("/");
  if (segments.some((segment) => segment === "" || segment === "." || segment === "..")) {
    throw invalid("contains an empty segment, a trailing slash or a dot segment (. or ..)");
  }
  return { segments, prefix };
}

/** Decodes one raw segment, or returns undefined when it is invalid or ambiguous once decoded. */
function decodeSegment(raw: string): string | undefined {
  let decoded = raw;
  if (raw.includes("%")) {
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
  }
  return FORBIDDEN_DECODED.test(decoded) || hasControlCharacter(decoded) ? undefined : decoded;
}

/** Reports whether the text contains a C0 control character or DEL. */
function hasControlCharacter(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) {
      return true;
    }
  }
  return false;
}

function startsWithSegments(segments: readonly string[], prefix: readonly string[]): boolean {
  if (segments.length < prefix.length) {
    return false;
  }
  return prefix.every((segment, index) => segments[index] === segment);
}

function firstIndexOf(text: string, ...characters: string[]): number {
  let end = text.length;
  for (const character of characters) {
    const index = text.indexOf(character);
    if (index !== -1 && index < end) {
      end = index;
    }
  }
  return end;
}
