import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { freezeJsonValue, parseJsonObject, parseJsonObjectBytes } from "../src/node/json.js";

describe("parseJsonObject", () => {
  it("returns the parsed object", () => {
    expect(parseJsonObject('{"a":1,"b":{"c":[1,{"d":2}]}}')).toEqual({
      a: 1,
      b: { c: [1, { d: 2 }] },
    });
  });

  it.each([
    ["top-level duplicate", '{"a":1,"a":2}'],
    ["nested duplicate", '{"a":{"b":1,"b":1}}'],
    ["duplicate inside an array", '{"a":[{"b":1},{"c":1,"c":2}]}'],
    ["escaped duplicate", '{"a":1,"\\u0061":2}'],
    ["escaped duplicate with a longer name", '{"alg":"x","\\u0061lg":"y"}'],
    ["duplicate __proto__", '{"__proto__":1,"__proto__":2}'],
    ["duplicate after whitespace", '{ "a" : 1 ,\n "a" : 2 }'],
    ["duplicate empty name", '{"":1,"":2}'],
  ])("rejects a %s", (_name, text) => {
    expect(parseJsonObject(text)).toBe("duplicate_member");
  });

  it.each([
    ["colons inside strings", '{"iss":"https://a:b","x":"::","y":"\\":"}'],
    ["escaped quotes and backslashes", '{"a":"\\\\","b":"\\"\\\\\\"","c":"x"}'],
    ["the same name in sibling objects", '{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}'],
    ["names that differ only after escapes", '{"a":1,"\\u0062":2}'],
    ["an own __proto__ member", '{"__proto__":{"polluted":true}}'],
    ["whitespace around the object", ' \n{"a":1}\t '],
  ])("accepts %s", (_name, text) => {
    expect(parseJsonObject(text)).toEqual(JSON.parse(text));
  });

  it.each([
    ["an array", "[1,2]"],
    ["a string", '"text"'],
    ["a number", "42"],
    ["null", "null"],
    ["true", "true"],
  ])("rejects %s as not an object", (_name, text) => {
    expect(parseJsonObject(text)).toBe("not_json_object");
  });

  it.each([
    ["truncated text", '{"a":1'],
    ["a trailing comma", '{"a":1,}'],
    ["single quotes", "{'a':1}"],
    ["trailing text", '{"a":1}x'],
    ["a byte order mark", '\uFEFF{"a":1}'],
    ["empty text", ""],
  ])("rejects %s as malformed", (_name, text) => {
    expect(parseJsonObject(text)).toBe("malformed");
  });

  it("handles nesting deeper than the recursion limit", () => {
    const depth = 5000;
    const deep = `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
    expect(typeof parseJsonObject(deep)).toBe("object");
    const duplicated = `${'{"a":'.repeat(depth)}{"b":1,"b":2}${"}".repeat(depth)}`;
    expect(parseJsonObject(duplicated)).toBe("duplicate_member");
  });

  it("agrees with a reference duplicate check on generated JSON", () => {
    const name = fc.constantFrom("a", "b", "\\u0061", "c:", '\\"');
    const leaf = fc.constantFrom("1", '"x"', '"a:b"', "null", "[]", '"\\\\"');
    const tree = fc.letrec<{ value: string }>((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        leaf,
        fc
          .array(fc.tuple(name, tie("value")), { maxLength: 4 })
          .map((members) => `{${members.map(([key, value]) => `"${key}":${value}`).join(",")}}`),
        fc.array(tie("value"), { maxLength: 3 }).map((items) => `[${items.join(",")}]`),
      ),
    })).value;
    const object = fc
      .array(fc.tuple(name, tree), { maxLength: 5 })
      .map((members) => `{${members.map(([key, value]) => `"${key}":${value}`).join(",")}}`);

    fc.assert(
      fc.property(object, (text) => {
        const expected = hasDuplicateMemberSlowly(text) ? "duplicate_member" : JSON.parse(text);
        expect(parseJsonObject(text)).toEqual(expected);
      }),
      { seed: 11, numRuns: 3000 },
    );
  });
});

/** Finds duplicate names slowly, with a small recursive-descent walk, as a reference. */
function hasDuplicateMemberSlowly(text: string): boolean {
  let index = 0;
  let duplicate = false;

  const skipSpace = () => {
    while (/\s/.test(text[index] ?? "")) index++;
  };
  const readString = (): string => {
    const start = index;
    index++;
    while (text[index] !== '"') {
      index += text[index] === "\\" ? 2 : 1;
    }
    index++;
    return JSON.parse(text.slice(start, index)) as string;
  };
  const readValue = (): void => {
    skipSpace();
    const char = text[index];
    if (char === "{") {
      index++;
      const names = new Set<string>();
      skipSpace();
      while (text[index] !== "}") {
        skipSpace();
        const name = readString();
        if (names.has(name)) duplicate = true;
        names.add(name);
        skipSpace();
        index++;
        readValue();
        skipSpace();
        if (text[index] === ",") index++;
        skipSpace();
      }
      index++;
    } else if (char === "[") {
      index++;
      skipSpace();
      while (text[index] !== "]") {
        readValue();
        skipSpace();
        if (text[index] === ",") index++;
        skipSpace();
      }
      index++;
    } else if (char === '"') {
      readString();
    } else {
      while (index < text.length && !/[,}\]\s]/.test(text[index] as string)) index++;
    }
  };

  readValue();
  return duplicate;
}

describe("parseJsonObjectBytes", () => {
  it("parses UTF-8 bytes", () => {
    expect(parseJsonObjectBytes(Buffer.from('{"name":"Zoë"}'))).toEqual({ name: "Zoë" });
  });

  it("parses only the given prefix", () => {
    const bytes = Buffer.from('{"a":1}garbage');
    expect(parseJsonObjectBytes(bytes, 7)).toEqual({ a: 1 });
  });

  it("accepts a literal U+FFFD", () => {
    expect(parseJsonObjectBytes(Buffer.from('{"a":"\uFFFD"}'))).toEqual({ a: "\uFFFD" });
  });

  it.each([
    ["a lone continuation byte", [0x80]],
    ["a truncated two-byte sequence", [0xc3]],
    ["an overlong encoding of '/'", [0xc0, 0xaf]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]],
    ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ["a 0xFF byte", [0xff]],
  ])("rejects %s as invalid UTF-8", (_name, bytes) => {
    const text = Buffer.concat([Buffer.from('{"a":"'), Buffer.from(bytes), Buffer.from('"}')]);
    expect(parseJsonObjectBytes(text)).toBe("invalid_utf8");
  });

  it("finds duplicates next to multi-byte characters", () => {
    expect(parseJsonObjectBytes(Buffer.from('{"é":"ü:","é":1}'))).toBe("duplicate_member");
  });
});

describe("freezeJsonValue", () => {
  it("freezes nested objects and arrays", () => {
    const value = freezeJsonValue({ a: { b: [{ c: 1 }] } });
    expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(value.a)).toBe(true);
    expect(Object.isFrozen(value.a.b)).toBe(true);
    expect(Object.isFrozen(value.a.b[0])).toBe(true);
  });

  it("handles deep nesting without recursion", () => {
    const depth = 100_000;
    const deep = JSON.parse(`${"[".repeat(depth)}${"]".repeat(depth)}`);
    expect(Object.isFrozen(freezeJsonValue(deep))).toBe(true);
  });
});
