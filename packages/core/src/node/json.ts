import { isUtf8 } from "node:buffer";

/** A parsed JSON object. */
export type JsonObject = Record<string, unknown>;

/** The reason {@link parseJsonObject} or {@link parseJsonObjectBytes} rejected its input. */
export type JsonObjectFailure =
  | "invalid_utf8"
  | "malformed"
  | "not_json_object"
  | "duplicate_member";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

/**
 * Parses JSON text that must be an object (RFC 8259) with unique member names in every object
 * at any depth. Names are compared after escapes are decoded, so `"a"` and `"\u0061"` are
 * duplicates. Returns the object or the reason for rejecting the text, and never throws.
 */
export function parseJsonObject(text: string): JsonObject | JsonObjectFailure {
  const value = parseJson(text);
  if (typeof value === "string") {
    return value;
  }
  return countMembersInText(text) === countParsedMembers(value, 0) ? value : "duplicate_member";
}

/**
 * Parses the UTF-8 bytes `bytes[0, length)` like {@link parseJsonObject}, and also rejects bytes
 * that are not valid UTF-8, because a decoder would silently replace them. `length` defaults to
 * the whole buffer.
 */
export function parseJsonObjectBytes(
  bytes: Buffer,
  length: number = bytes.length,
): JsonObject | JsonObjectFailure {
  const text = bytes.toString("utf8", 0, length);
  // The decoder turns every invalid sequence into U+FFFD, so text without it came from valid
  // UTF-8. Only text that contains it needs the exact check.
  if (text.includes("\uFFFD") && !isUtf8(bytes.subarray(0, length))) {
    return "invalid_utf8";
  }

  const value = parseJson(text);
  if (typeof value === "string") {
    return value;
  }
  // Scanning the bytes is faster than scanning the string, and UTF-8 never uses the ASCII
  // codes of `"`, `\` and `:` inside a multi-byte character.
  return countMembersInBytes(bytes, length) === countParsedMembers(value, 0)
    ? value
    : "duplicate_member";
}

/**
 * Freezes a parsed JSON value and every object and array in it, without recursion. Members are
 * read by index and through `Object.keys`, which allocates less than `Object.values` and never
 * reaches inherited properties.
 */
export function freezeJsonValue<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) {
    return value;
  }
  Object.freeze(value);
  const pending: object[] = [];
  let current: object | undefined = value;
  while (current !== undefined) {
    if (Array.isArray(current)) {
      for (let index = 0; index < current.length; index++) {
        freezeMember(current[index], pending);
      }
    } else {
      const record = current as Record<string, unknown>;
      const names = Object.keys(record);
      for (let index = 0; index < names.length; index++) {
        freezeMember(record[names[index] as string], pending);
      }
    }
    current = pending.pop();
  }
  return value;
}

/** Freezes an object or array member and queues it so that its own members are frozen too. */
function freezeMember(member: unknown, pending: object[]): void {
  if (typeof member === "object" && member !== null && !Object.isFrozen(member)) {
    Object.freeze(member);
    pending.push(member);
  }
}

function parseJson(text: string): JsonObject | "malformed" | "not_json_object" {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "malformed";
  }

  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return "not_json_object";
  }
  return value as JsonObject;
}

// The member counts below rely on the text being valid JSON. JSON.parse keeps the last of
// duplicate members, so the parsed objects hold fewer properties than the text has members
// exactly when some object repeats a name. Every colon outside a string separates one member
// name from its value, so the text's member count is its number of colons outside strings.

function countMembersInText(text: string): number {
  const length = text.length;
  let count = 0;
  let index = 0;

  while (index < length) {
    const code = text.charCodeAt(index++);
    if (code === COLON) {
      count++;
    } else if (code === QUOTE) {
      while (index < length) {
        const inner = text.charCodeAt(index++);
        if (inner === QUOTE) {
          break;
        }
        if (inner === BACKSLASH) {
          index++;
        }
      }
    }
  }
  return count;
}

function countMembersInBytes(bytes: Uint8Array, length: number): number {
  let count = 0;
  let index = 0;

  while (index < length) {
    const code = bytes[index++];
    if (code === COLON) {
      count++;
    } else if (code === QUOTE) {
      while (index < length) {
        const inner = bytes[index++];
        if (inner === QUOTE) {
          break;
        }
        if (inner === BACKSLASH) {
          index++;
        }
      }
    }
  }
  return count;
}

/** Nesting depth above which counting switches from recursion to an explicit stack. */
const MAX_RECURSION_DEPTH = 256;

/**
 * Counts the properties of every object in a parsed JSON value. `for...in` also visits
 * enumerable properties inherited from a polluted `Object.prototype`, which can only raise the
 * count and so make the check reject, never accept.
 */
function countParsedMembers(value: object, depth: number): number {
  if (depth > MAX_RECURSION_DEPTH) {
    return countParsedMembersWithStack(value);
  }

  let count = 0;
  if (Array.isArray(value)) {
    for (const element of value) {
      if (typeof element === "object" && element !== null) {
        count += countParsedMembers(element, depth + 1);
      }
    }
    return count;
  }

  for (const name in value) {
    count++;
    const member = (value as JsonObject)[name];
    if (typeof member === "object" && member !== null) {
      count += countParsedMembers(member, depth + 1);
    }
  }
  return count;
}

/** Counts like {@link countParsedMembers} without recursion, for deeply nested values. */
function countParsedMembersWithStack(root: object): number {
  let count = 0;
  const pending: object[] = [root];

  while (pending.length > 0) {
    const value = pending.pop() as object;
    if (Array.isArray(value)) {
      for (const element of value) {
        if (typeof element === "object" && element !== null) {
          pending.push(element);
        }
      }
      continue;
    }

    for (const name in value) {
      count++;
      const member = (value as JsonObject)[name];
      if (typeof member === "object" && member !== null) {
        pending.push(member);
      }
    }
  }

  return count;
}
