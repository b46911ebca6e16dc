import { isSelloError, type SelloError } from "@sello/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_USERNAME_LENGTH, MIN_USERNAME_LENGTH, normaliseUsername } from "../src/usernames.js";

function rejection(input: unknown): SelloError {
  try {
    normaliseUsername(input as string);
  } catch (error) {
    if (isSelloError(error)) {
      return error;
    }
    throw error;
  }
  throw new Error(`normaliseUsername accepted ${JSON.stringify(input)}`);
}

describe("normaliseUsername", () => {
  it("folds case, width and compatibility forms together", () => {
    const pairs: Array<[string, string]> = [
      ["Alice", "alice"],
      ["ALICE", "alice"],
      ["aLiCe", "ALiCE"],
      ["ＡＬＩＣＥ", "alice"],
      ["ａｌｉｃｅ", "Alice"],
      ["ｊｏｈｎ＿ｄｏｅ", "john_doe"],
      ["Ｊｏｈｎ．Ｄｏｅ＠Ｅｘａｍｐｌｅ．ｃｏｍ", "john.doe@example.com"],
      ["user－１２３", "user-123"],
      ["ﬁne", "fine"],
      ["ﬀoo", "ffoo"],
      ["𝐛𝐨𝐥𝐝", "bold"],
      ["𝔣𝔯𝔞𝔨𝔱𝔲𝔯", "fraktur"],
      ["ℌello", "hello"],
      ["\u212Aelvin", "kelvin"],
      ["ſam", "sam"],
      ["x²y", "x2y"],
      ["Ⅻclub", "xiiclub"],
      ["ǅemal", "džemal"],
      ["ǄEMAL", "džemal"],
      ["École", "école"],
      ["E\u0301cole", "école"],
      ["e\u0301cole", "ÉCOLE"],
      ["ΑΘΗΝΑ", "αθηνα"],
      ["ΟΔΟΣ", "οδος"],
      ["МОСКВА", "москва"],
      ["ﾀﾛｳ", "タロウ"],
      ["ｶﾞｸｾｲ", "ガクセイ"],
      ["  alice  ", "alice"],
      ["\u3000alice\u3000", "alice"],
      ["\talice\n", "alice"],
    ];

    for (const [left, right] of pairs) {
      expect(normaliseUsername(left), `${left} vs ${right}`).toBe(normaliseUsername(right));
    }
  });

  it("returns the lowercase NFKC form", () => {
    expect(normaliseUsername("ＪｏｈｎＤｏｅ")).toBe("johndoe");
    expect(normaliseUsername("E\u0301cole")).toBe("\u00e9cole");
    expect(normaliseUsername("ΟΔΟΣ")).toBe("οδος");
  });

  it("is idempotent", () => {
    const names = [
      "Alice",
      "ＡＬＩＣＥ",
      "ǄEMAL",
      "ﾀﾛｳ",
      "राहुल",
      "İstanbul",
      "john.doe@example.com",
    ];
    for (const name of names) {
      const once = normaliseUsername(name);
      expect(normaliseUsername(once), name).toBe(once);
    }
  });

  it("accepts names in one script", () => {
    const names = [
      "alice",
      "jean-luc.picard",
      "j_doe@example.com",
      "user123",
      "123user",
      "иван",
      "αθηνα",
      "אברהם",
      "محمد",
      "राहुल",
      "กมล",
      "김민수",
      "王小明",
      "たろう山田",
      "カタカナー",
      "ㄅㄆㄇ王",
      "조선朝鮮",
      "ივანე",
      "ara1234",
      "héloïse",
    ];
    for (const name of names) {
      expect(() => normaliseUsername(name), name).not.toThrow();
    }
  });

  it("rejects names that mix scripts", () => {
    const names = [
      "p\u0430ypal",
      "g\u03bfogle",
      "\u03b1lice",
      "b\u043eb",
      "abc山",
      "たろうkim",
      "김たろう",
      "abc१२३",
      "иванivan",
    ];
    for (const name of names) {
      expect(rejection(name).reason, name).toBe("username_mixed_scripts");
    }
  });

  it("names both scripts when they mix", () => {
    expect(rejection("p\u0430ypal").message).toBe(
      "The username mixes Latin and Cyrillic letters. Use letters from one script.",
    );
  });

  it("rejects letters from unsupported scripts", () => {
    for (const name of ["ᚠᚢᚦ", "ᏣᎳᎩ", "𐌰𐌱𐌲"]) {
      expect(rejection(name).reason, name).toBe("username_script");
    }
  });

  it("enforces the length in code points", () => {
    expect(MIN_USERNAME_LENGTH).toBe(3);
    expect(MAX_USERNAME_LENGTH).toBe(64);
    expect(normaliseUsername("abc")).toBe("abc");
    expect(normaliseUsername("a".repeat(64))).toBe("a".repeat(64));
    expect(normaliseUsername("𝐚𝐛𝐜")).toBe("abc");

    for (const name of ["", "   ", "ab", "  ab  ", "a".repeat(65), "x".repeat(5000)]) {
      const error = rejection(name);
      expect(error.reason, name.slice(0, 10)).toBe("username_length");
      expect(error.message).toBe("The username must be 3 to 64 characters long.");
    }
  });

  it("measures length after normalisation", () => {
    // U+FDFA expands to 18 code points under NFKC, so four of them exceed 64.
    expect(rejection("\ufdfa".repeat(4)).reason).toBe("username_length");
    expect(normaliseUsername("E\u0301".repeat(64))).toBe("é".repeat(64));
  });

  it("rejects characters outside the allowed set", () => {
    const names = [
      "john doe",
      "john!",
      "a/b/c",
      "a+b",
      "a#b",
      "emoji😀",
      "tab\tin",
      "a'b",
      "a\u0000b",
    ];
    for (const name of names) {
      const error = rejection(name);
      expect(error.code, name).toBe("validation_failed");
      expect(error.reason, name).toBe("username_character");
    }
  });

  it("describes the rejected character", () => {
    expect(rejection("john!doe").message).toBe(
      'The username contains "!" (U+0021), which is not allowed. Use letters, digits and the characters . _ - @.',
    );
    expect(rejection("john doe").message).toContain("a space (U+0020)");
    expect(rejection("jo\u200bhn").message).toContain("the invisible character U+200B");
  });

  it("rejects invisible letters and joiners", () => {
    for (const name of [
      "ab\u3164c",
      "ab\u115fc",
      "ab\uffa0c",
      "ab\u200dc",
      "ab\u200cc",
      "ab\u00adc",
    ]) {
      expect(rejection(name).reason, JSON.stringify(name)).toBe("username_character");
    }
  });

  it("rejects a combining mark after a non-letter", () => {
    expect(rejection("1\u0301ab").reason).toBe("username_character");
    expect(rejection("ab.\u0301cd").reason).toBe("username_character");
  });

  it("rejects leading or trailing punctuation", () => {
    const names = [".alice", "alice.", "_bob", "bob_", "-bob", "bob-", "@bob", "bob@", "..."];
    for (const name of names) {
      const error = rejection(name);
      expect(error.reason, name).toBe("username_edge");
      expect(error.message).toBe("The username must start and end with a letter or digit.");
    }
  });

  it("rejects a non-string", () => {
    for (const value of [undefined, null, 42, {}, ["alice"]]) {
      expect(rejection(value).reason).toBe("username_type");
    }
  });

  it("reports failures as validation_failed with status 400", () => {
    const error = rejection("ab");
    expect(error.code).toBe("validation_failed");
    expect(error.status).toBe(400);
  });
});

describe("normaliseUsername plain ASCII shortcut", () => {
  // A leading space fails the shortcut's pattern and is then trimmed, so it runs the full rules
  // on the same name.
  function outcome(input: string): string {
    try {
      return `ok ${normaliseUsername(input)}`;
    } catch (error) {
      return isSelloError(error) ? `rejected ${error.code}` : `threw ${String(error)}`;
    }
  }

  it("agrees with the full rules on ASCII names", () => {
    const characters = [..."aZ09._@- +/\t\u00e9"];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...characters), { minLength: 0, maxLength: 70 }),
        (chosen) => {
          const name = chosen.join("");
          expect(outcome(name)).toBe(outcome(` ${name}`));
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it("agrees with the full rules at the length limits", () => {
    for (const length of [2, 3, 64, 65]) {
      const name = "a".repeat(length);
      expect(outcome(name), `${length} letters`).toBe(outcome(` ${name}`));
    }
    expect(outcome("User.Name@Example-1")).toBe("ok user.name@example-1");
    expect(outcome("123")).toBe(outcome(" 123"));
    expect(outcome("a..b")).toBe(outcome(" a..b"));
  });
});
