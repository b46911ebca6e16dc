import { hash, parseOptions } from "@node-rs/argon2";
import { isSelloError, type SelloError } from "@sello/core";
import { afterAll, describe, expect, it, vi } from "vitest";
import {
  checkNewPassword,
  closePasswordHashing,
  hashPassword,
  isPasswordTooLong,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  passwordHashingStats,
  retainPasswordHashing,
  verifyAgainstDummy,
  verifyPassword,
} from "../src/passwords.js";

afterAll(async () => {
  await closePasswordHashing();
});

const ARGON2I = 1;
const ARGON2ID = 2;

function rejection(password: string, context?: { username?: string }): SelloError {
  try {
    checkNewPassword(password, context);
  } catch (error) {
    if (isSelloError(error)) {
      return error;
    }
    throw error;
  }
  throw new Error("checkNewPassword accepted the password");
}

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function timeMs(action: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await action();
  return performance.now() - start;
}

describe("hashPassword", () => {
  it("produces an argon2id PHC string with OWASP parameters", async () => {
    const stored = await hashPassword("correct horse battery staple");

    expect(stored).toMatch(
      /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/,
    );
    expect(parseOptions(stored)).toMatchObject({
      algorithm: ARGON2ID,
      memoryCost: 19_456,
      timeCost: 2,
      parallelism: 1,
      outputLen: 32,
      saltLen: 16,
    });
  });

  it("salts each hash", async () => {
    const first = await hashPassword("correct horse battery staple");
    const second = await hashPassword("correct horse battery staple");
    expect(first).not.toBe(second);
  });

  it("never contains the password", async () => {
    const stored = await hashPassword("plaintext-marker");
    expect(stored).not.toContain("plaintext-marker");
  });
});

describe("verifyPassword", () => {
  it("accepts the right password", async () => {
    const stored = await hashPassword("correct horse battery staple");
    await expect(verifyPassword(stored, "correct horse battery staple")).resolves.toEqual({
      valid: true,
      needsRehash: false,
    });
  });

  it("rejects a wrong password", async () => {
    const stored = await hashPassword("correct horse battery staple");
    for (const attempt of ["correct horse battery stapl", "Correct horse battery staple", ""]) {
      await expect(verifyPassword(stored, attempt), attempt).resolves.toEqual({
        valid: false,
        needsRehash: false,
      });
    }
  });

  it("matches composed and decomposed accents", async () => {
    const composed = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e";
    const decomposed = composed.normalize("NFD");
    expect(decomposed).not.toBe(composed);

    const stored = await hashPassword(decomposed);
    expect((await verifyPassword(stored, composed)).valid).toBe(true);
  });

  it("flags weaker parameters for rehash", async () => {
    const stored = await hash("correct horse battery staple", {
      algorithm: ARGON2ID,
      memoryCost: 8192,
      timeCost: 1,
      parallelism: 1,
    });

    await expect(verifyPassword(stored, "correct horse battery staple")).resolves.toEqual({
      valid: true,
      needsRehash: true,
    });
  });

  it("flags another argon2 variant for rehash", async () => {
    const stored = await hash("correct horse battery staple", {
      algorithm: ARGON2I,
      memoryCost: 19_456,
      timeCost: 2,
      parallelism: 1,
    });

    await expect(verifyPassword(stored, "correct horse battery staple")).resolves.toEqual({
      valid: true,
      needsRehash: true,
    });
  });

  it("flags stronger parameters for rehash", async () => {
    const stored = await hash("correct horse battery staple", {
      algorithm: ARGON2ID,
      memoryCost: 19_456,
      timeCost: 3,
      parallelism: 2,
    });
    expect((await verifyPassword(stored, "correct horse battery staple")).needsRehash).toBe(true);
  });

  it("reports no rehash for a wrong password", async () => {
    const stored = await hash("correct horse battery staple", {
      algorithm: ARGON2I,
      memoryCost: 8192,
      timeCost: 1,
    });
    await expect(verifyPassword(stored, "wrong password")).resolves.toEqual({
      valid: false,
      needsRehash: false,
    });
  });

  it("treats malformed hashes as invalid", async () => {
    const good = await hashPassword("correct horse battery staple");
    const malformed = [
      "",
      "not a hash",
      "$argon2id$",
      "$argon2id$v=19$m=19456,t=2,p=1$",
      "$argon2id$v=19$m=19456,t=2,p=1$YWJj$YWJj",
      "$argon2id$v=19$m=abc,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
      "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
      "$pbkdf2-sha256$29000$N2bMGSNESAkh$tVcBVSXEPLlG",
      good.slice(0, -10),
      good.replace("$argon2id$", "$argon2xx$"),
    ];

    for (const stored of malformed) {
      await expect(verifyPassword(stored, "correct horse battery staple"), stored).resolves.toEqual(
        {
          valid: false,
          needsRehash: false,
        },
      );
    }
  });
});

describe("the password hashing pool", () => {
  it("keeps its threads until the last user gives it back", async () => {
    const releaseFirst = retainPasswordHashing({ threads: 2 });
    const releaseSecond = retainPasswordHashing({ threads: 1 });
    expect(passwordHashingStats().threads).toBe(1);

    await releaseFirst();
    await releaseFirst();
    const stored = await hashPassword("correct horse battery staple");
    expect(passwordHashingStats().threads).toBe(1);

    await releaseSecond();
    expect(passwordHashingStats()).toEqual({ threads: 0, running: 0, queued: 0 });
    // A later hash starts the pool again.
    expect((await verifyPassword(stored, "correct horse battery staple")).valid).toBe(true);
    await closePasswordHashing();
    expect(passwordHashingStats().threads).toBe(0);
  });

  it("reports an unrun check as unavailable", async () => {
    const stored = await hashPassword("correct horse battery staple");
    const checks = [
      verifyPassword(stored, "correct horse battery staple"),
      hashPassword("correct horse battery staple"),
    ].map((check) =>
      check.then(
        () => undefined,
        (error: unknown) => error,
      ),
    );

    await closePasswordHashing();
    for (const error of await Promise.all(checks)) {
      expect(isSelloError(error, "service_unavailable")).toBe(true);
    }
    expect((await verifyPassword(stored, "correct horse battery staple")).valid).toBe(true);
  });
});

describe("verifyAgainstDummy", () => {
  it("always resolves to false", async () => {
    const results = await Promise.all([
      verifyAgainstDummy("correct horse battery staple"),
      verifyAgainstDummy(""),
      verifyAgainstDummy("x".repeat(MAX_PASSWORD_LENGTH)),
    ]);
    expect(results).toEqual([false, false, false]);
  });

  it("costs about as much as a wrong password", async () => {
    const stored = await hashPassword("the real password of a known user");
    await verifyAgainstDummy("warm up the dummy hash");
    await verifyPassword(stored, "warm up the verifier");

    const unknownUser: number[] = [];
    const wrongPassword: number[] = [];
    for (let run = 0; run < 10; run += 1) {
      unknownUser.push(await timeMs(() => verifyAgainstDummy(`guess ${run}`)));
      wrongPassword.push(await timeMs(() => verifyPassword(stored, `guess ${run}`)));
    }

    const ratio = median(unknownUser) / median(wrongPassword);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  });
});

describe("checkNewPassword", () => {
  it("accepts a long uncommon password", () => {
    expect(() => checkNewPassword("correct horse battery staple")).not.toThrow();
    expect(() => checkNewPassword("Tr0ub4dor&3x", { username: "alice" })).not.toThrow();
  });

  it("enforces the length in code points", () => {
    expect(MIN_PASSWORD_LENGTH).toBe(8);
    expect(MAX_PASSWORD_LENGTH).toBe(128);
    expect(() => checkNewPassword("kx7#qm2!")).not.toThrow();
    expect(() => checkNewPassword("kx7#qm2!".repeat(16))).not.toThrow();

    const tooShort = rejection("kx7#qm2");
    expect(tooShort.reason).toBe("password_too_short");
    expect(tooShort.message).toBe("The password must be at least 8 characters long.");

    const tooLong = rejection(`${"kx7#qm2!".repeat(16)}z`);
    expect(tooLong.reason).toBe("password_too_long");
    expect(tooLong.message).toBe("The password must be at most 128 characters long.");
  });

  it("counts astral characters once", () => {
    // Each emoji is one code point but two UTF-16 code units.
    expect(() => checkNewPassword("🔑🦜🌵🚲🎻🧭🪁🫖")).not.toThrow();
    expect(rejection("🔑🦜🌵🚲🎻🧭🪁").reason).toBe("password_too_short");
    expect(() => checkNewPassword("🔑".repeat(128))).not.toThrow();
    expect(rejection("🔑".repeat(129)).reason).toBe("password_too_long");
  });

  it("counts length after NFC", () => {
    const decomposed = "e\u0301".repeat(7);
    expect(rejection(decomposed).reason).toBe("password_too_short");
    expect(() => checkNewPassword("e\u0301".repeat(128))).not.toThrow();
  });

  it("rejects common passwords in any case", () => {
    const common = [
      "password",
      "Password",
      "PASSWORD",
      "12345678",
      "baseball",
      "qwertyuiop",
      "iloveyou",
      "ｐａｓｓｗｏｒｄ",
    ];
    for (const password of common) {
      const error = rejection(password);
      expect(error.reason, password).toBe("password_common");
      expect(error.message).toBe(
        "The password is on a list of commonly used passwords. Choose a less common one.",
      );
    }
  });

  it("rejects the username as password", () => {
    const cases: Array<[string, string]> = [
      ["alice.wonderland", "alice.wonderland"],
      ["Alice.Wonderland", "alice.wonderland"],
      ["alice.wonderland", "  ALICE.WONDERLAND "],
      ["ａｌｉｃｅ.wonderland", "alice.wonderland"],
    ];
    for (const [password, username] of cases) {
      const error = rejection(password, { username });
      expect(error.reason, password).toBe("password_equals_username");
      expect(error.message).toBe("The password must not be the same as the username.");
    }

    expect(() => checkNewPassword("alice.wonderland", { username: "bob" })).not.toThrow();
    expect(() => checkNewPassword("alice.wonderland", { username: "" })).not.toThrow();
  });

  it("keeps the password out of the error", () => {
    const cases: Array<[string, { username?: string }]> = [
      ["short1", {}],
      ["qwertyuiop", {}],
      ["Secret-Marker-99", { username: "secret-marker-99" }],
      ["x".repeat(200), {}],
    ];
    for (const [password, context] of cases) {
      const error = rejection(password, context);
      expect(error.code).toBe("weak_password");
      expect(error.status).toBe(400);
      expect(error.message.toLowerCase()).not.toContain(password.toLowerCase());
      expect(JSON.stringify(error.toJSON()).toLowerCase()).not.toContain(password.toLowerCase());
    }
  });
});

describe("isPasswordTooLong", () => {
  it("allows up to 128 code points after NFC", () => {
    expect(isPasswordTooLong("")).toBe(false);
    expect(isPasswordTooLong("a".repeat(128))).toBe(false);
    expect(isPasswordTooLong("🔑".repeat(128))).toBe(false);
    expect(isPasswordTooLong("e\u0301".repeat(128))).toBe(false);
    expect(isPasswordTooLong("\u1f82".normalize("NFD").repeat(128))).toBe(false);
  });

  it("rejects more than 128 code points", () => {
    expect(isPasswordTooLong("a".repeat(129))).toBe(true);
    expect(isPasswordTooLong("🔑".repeat(129))).toBe(true);
    expect(isPasswordTooLong("e\u0301".repeat(129))).toBe(true);
  });

  it("rejects huge input without normalising it", () => {
    const normalize = vi.spyOn(String.prototype, "normalize");
    try {
      expect(isPasswordTooLong("a".repeat(1_000_000))).toBe(true);
      expect(isPasswordTooLong("a".repeat(1025))).toBe(true);
      expect(normalize).not.toHaveBeenCalled();
    } finally {
      normalize.mockRestore();
    }
  });

  it("agrees with checkNewPassword", () => {
    const samples = [
      "a".repeat(127),
      "a".repeat(128),
      "a".repeat(129),
      "🔑".repeat(128),
      "e\u0301".repeat(128),
      "\ufdfa".repeat(128),
      "\u1f82".normalize("NFD").repeat(128),
      "\u1f82".normalize("NFD").repeat(129),
    ];
    for (const password of samples) {
      let acceptedLength = true;
      try {
        checkNewPassword(password);
      } catch (error) {
        acceptedLength = !(isSelloError(error) && error.reason === "password_too_long");
      }
      expect(isPasswordTooLong(password), password.slice(0, 8)).toBe(!acceptedLength);
    }
  });
});
