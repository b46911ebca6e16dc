import { createCipheriv, type KeyObject, randomBytes, sign, verify } from "node:crypto";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ALGORITHMS, type Algorithm } from "../src/algorithms.js";
import {
  decryptPrivateKey,
  encryptPrivateKey,
  generateKeyEncryptionKey,
  KEY_ENCRYPTION_KEY_BYTES,
  KeyDecryptionError,
} from "../src/node/key-encryption.js";
import { exportPrivateJwk, generateKey, importKey, PRIVATE_JWK_MEMBERS } from "../src/node/keys.js";
import type { SelloKey } from "../src/node/types.js";

const keys = {} as Record<Algorithm, SelloKey>;
const kek = generateKeyEncryptionKey();

beforeAll(() => {
  for (const alg of ALGORITHMS) {
    keys[alg] = generateKey(alg);
  }
});

type Stored = Record<string, unknown>;

function parse(serialized: string): Stored {
  return JSON.parse(serialized) as Stored;
}

/** XORs one byte of a base64url field with `mask` and returns the re-serialized data. */
function tamper(serialized: string, field: string, index = 0, mask = 0x01): string {
  const stored = parse(serialized);
  const bytes = Buffer.from(stored[field] as string, "base64url");
  const position = index % bytes.length;
  bytes.writeUInt8(bytes.readUInt8(position) ^ mask, position);
  return JSON.stringify({ ...stored, [field]: bytes.toString("base64url") });
}

function expectDecryptionError(
  serialized: string,
  pattern: RegExp,
  key: Uint8Array = kek,
): KeyDecryptionError {
  let caught: unknown;
  try {
    decryptPrivateKey(serialized, key);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(KeyDecryptionError);
  expect(caught).toBeInstanceOf(Error);
  expect(caught).not.toBeInstanceOf(TypeError);
  expect((caught as Error).message).toMatch(pattern);
  return caught as KeyDecryptionError;
}

const WRONG_KEY =
  /^Cannot decrypt signing key "[^"]+": wrong key-encryption key or corrupted data\.$/;

describe("generateKeyEncryptionKey", () => {
  it("returns 32 random bytes", () => {
    const first = generateKeyEncryptionKey();
    expect(first).toHaveLength(KEY_ENCRYPTION_KEY_BYTES);
    expect(first.equals(generateKeyEncryptionKey())).toBe(false);
  });
});

describe("encryptPrivateKey round trip", () => {
  it.each(ALGORITHMS)("%s key decrypts to same key", (alg) => {
    const original = keys[alg];
    const decrypted = decryptPrivateKey(encryptPrivateKey(original, kek), kek);

    expect(decrypted.kid).toBe(original.kid);
    expect(decrypted.alg).toBe(alg);
    expect(exportPrivateJwk(decrypted)).toEqual(exportPrivateJwk(original));
    expect(Object.isFrozen(decrypted)).toBe(true);
  });

  it("decrypted key signs", () => {
    const decrypted = decryptPrivateKey(encryptPrivateKey(keys.ES256, kek), kek);
    const data = Buffer.from("payload");
    const signature = sign("sha256", data, {
      key: decrypted.signKey as KeyObject,
      dsaEncoding: "ieee-p1363",
    });
    expect(
      verify("sha256", data, { key: keys.ES256.verifyKey, dsaEncoding: "ieee-p1363" }, signature),
    ).toBe(true);
  });

  it("custom kid preserved", () => {
    const renamed: SelloKey = { ...keys.EdDSA, kid: "2025-01" };
    expect(decryptPrivateKey(encryptPrivateKey(renamed, kek), kek).kid).toBe("2025-01");
  });

  it("plain Uint8Array KEK accepted", () => {
    const plain = new Uint8Array(kek);
    expect(decryptPrivateKey(encryptPrivateKey(keys.HS256, plain), plain).kid).toBe(keys.HS256.kid);
  });
});

describe("encryptPrivateKey output", () => {
  it("versioned JSON with base64url fields", () => {
    const stored = parse(encryptPrivateKey(keys.ES256, kek));
    expect(Object.keys(stored)).toEqual(["v", "kid", "alg", "iv", "ciphertext", "tag"]);
    expect(stored.v).toBe(1);
    expect(stored.kid).toBe(keys.ES256.kid);
    expect(stored.alg).toBe("ES256");
    expect(Buffer.from(stored.iv as string, "base64url")).toHaveLength(12);
    expect(Buffer.from(stored.tag as string, "base64url")).toHaveLength(16);
  });

  it.each(ALGORITHMS)("%s output contains no key material", (alg) => {
    const serialized = encryptPrivateKey(keys[alg], kek);
    expect(serialized).not.toContain("-----BEGIN");
    expect(serialized).not.toContain("PRIVATE KEY");

    const stored = parse(serialized);
    const privateJwk = exportPrivateJwk(keys[alg]);
    for (const member of PRIVATE_JWK_MEMBERS) {
      expect(stored).not.toHaveProperty(member);
      const value = privateJwk[member];
      if (typeof value === "string") {
        expect(serialized).not.toContain(value);
        expect(serialized).not.toContain(Buffer.from(value, "base64url").toString("base64"));
        expect(serialized).not.toContain(Buffer.from(value, "base64url").toString("hex"));
      }
    }
  });

  it("fresh IV per call", () => {
    const first = parse(encryptPrivateKey(keys.EdDSA, kek));
    const second = parse(encryptPrivateKey(keys.EdDSA, kek));
    expect(first.iv).not.toBe(second.iv);
    expect(first.ciphertext).not.toBe(second.ciphertext);
  });

  it("verify-only key rejected", () => {
    const publicOnly = importKey(keys.ES256.verifyKey, "ES256");
    expect(() => encryptPrivateKey(publicOnly, kek)).toThrow(TypeError);
    expect(() => encryptPrivateKey(publicOnly, kek)).toThrow(/verify-only/);
  });
});

describe("key-encryption key length", () => {
  it.each([0, 16, 31, 33, 64])("%i-byte KEK rejected on encrypt", (length) => {
    expect(() => encryptPrivateKey(keys.ES256, randomBytes(length))).toThrow(TypeError);
    expect(() => encryptPrivateKey(keys.ES256, randomBytes(length))).toThrow(
      new RegExp(`must be 32 bytes; got ${length} bytes`),
    );
  });

  it.each([0, 16, 31, 33])("%i-byte KEK rejected on decrypt", (length) => {
    const serialized = encryptPrivateKey(keys.ES256, kek);
    expect(() => decryptPrivateKey(serialized, randomBytes(length))).toThrow(TypeError);
  });

  it("non-bytes KEK rejected", () => {
    expect(() => encryptPrivateKey(keys.ES256, "k".repeat(32) as unknown as Uint8Array)).toThrow(
      /got string/,
    );
  });
});

describe("decryptPrivateKey failures", () => {
  it("wrong KEK rejected", () => {
    const serialized = encryptPrivateKey(keys.ES256, kek);
    const error = expectDecryptionError(serialized, WRONG_KEY, generateKeyEncryptionKey());
    expect(error.message).toContain(keys.ES256.kid);
    expect(error.kid).toBe(keys.ES256.kid);
  });

  it("wrong KEK message has no key material", () => {
    const serialized = encryptPrivateKey(keys.RS256, kek);
    const error = expectDecryptionError(serialized, WRONG_KEY, generateKeyEncryptionKey());
    const privateJwk = exportPrivateJwk(keys.RS256);
    expect(error.message).not.toContain(privateJwk.d);
    expect(error.message).not.toContain(parse(serialized).ciphertext as string);
    expect(error.cause).toBeUndefined();
  });

  it.each(["ciphertext", "tag", "iv"])("tampered %s rejected", (field) => {
    const serialized = encryptPrivateKey(keys.ES256, kek);
    expectDecryptionError(tamper(serialized, field), WRONG_KEY);
  });

  it("swapped kid rejected", () => {
    const serialized = encryptPrivateKey(keys.ES256, kek);
    const swapped = JSON.stringify({ ...parse(serialized), kid: keys.EdDSA.kid });
    const error = expectDecryptionError(swapped, WRONG_KEY);
    expect(error.kid).toBe(keys.EdDSA.kid);
  });

  it("swapped alg rejected", () => {
    const serialized = encryptPrivateKey(keys.RS256, kek);
    expectDecryptionError(JSON.stringify({ ...parse(serialized), alg: "PS256" }), WRONG_KEY);
  });

  it("ciphertext moved between keys rejected", () => {
    const first = parse(encryptPrivateKey(keys.ES256, kek));
    const second = parse(encryptPrivateKey(keys.EdDSA, kek));
    const mixed = JSON.stringify({
      ...second,
      iv: first.iv,
      ciphertext: first.ciphertext,
      tag: first.tag,
    });
    expectDecryptionError(mixed, WRONG_KEY);
  });

  it("truncated tag rejected", () => {
    const stored = parse(encryptPrivateKey(keys.ES256, kek));
    const tag = Buffer.from(stored.tag as string, "base64url")
      .subarray(0, 12)
      .toString("base64url");
    expectDecryptionError(JSON.stringify({ ...stored, tag }), /invalid iv, ciphertext or tag/);
  });

  it("non-canonical base64url rejected", () => {
    const stored = parse(encryptPrivateKey(keys.ES256, kek));
    expectDecryptionError(
      JSON.stringify({ ...stored, iv: `${stored.iv}=` }),
      /invalid iv, ciphertext or tag/,
    );
    expectDecryptionError(
      JSON.stringify({ ...stored, tag: `${stored.tag} ` }),
      /invalid iv, ciphertext or tag/,
    );
  });

  it("unknown version rejected", () => {
    const stored = parse(encryptPrivateKey(keys.ES256, kek));
    expectDecryptionError(
      JSON.stringify({ ...stored, v: 2 }),
      /format version 2, but only version 1 is supported/,
    );
    const { v: _v, ...withoutVersion } = stored;
    expectDecryptionError(JSON.stringify(withoutVersion), /format version undefined/);
  });

  it("malformed data rejected", () => {
    expectDecryptionError("not json", /is not valid JSON/);
    expectDecryptionError("[1,2]", /is not a JSON object/);
    expectDecryptionError("null", /is not a JSON object/);
    expectDecryptionError(42 as unknown as string, /is not a string/);
  });

  it("missing fields rejected", () => {
    const stored = parse(encryptPrivateKey(keys.ES256, kek));
    for (const field of ["kid", "alg", "iv", "ciphertext", "tag"]) {
      const { [field]: _removed, ...rest } = stored;
      expectDecryptionError(JSON.stringify(rest), /Cannot decrypt signing key/);
    }
  });

  it("unsupported alg rejected", () => {
    const stored = parse(encryptPrivateKey(keys.ES256, kek));
    expectDecryptionError(JSON.stringify({ ...stored, alg: "none" }), /missing or unsupported alg/);
  });

  it("authenticated non-key plaintext rejected", () => {
    // Data encrypted correctly under the KEK but holding bytes that are not a PKCS#8 key.
    const kid = "forged";
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", kek, iv, { authTagLength: 16 });
    cipher.setAAD(Buffer.from(JSON.stringify({ v: 1, kid, alg: "ES256" })));
    const ciphertext = Buffer.concat([cipher.update(randomBytes(40)), cipher.final()]);
    const serialized = JSON.stringify({
      v: 1,
      kid,
      alg: "ES256",
      iv: iv.toString("base64url"),
      ciphertext: ciphertext.toString("base64url"),
      tag: cipher.getAuthTag().toString("base64url"),
    });
    expectDecryptionError(
      serialized,
      /Cannot import decrypted signing key "forged": it is not a valid ES256 key/,
    );
  });

  it("any flipped byte rejected", () => {
    const serialized = encryptPrivateKey(keys.EdDSA, kek);
    fc.assert(
      fc.property(
        fc.constantFrom("iv", "ciphertext", "tag"),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (field, index, mask) => {
          const tampered = tamper(serialized, field, index, mask);
          expect(() => decryptPrivateKey(tampered, kek)).toThrow(KeyDecryptionError);
        },
      ),
      { numRuns: 200 },
    );
  });
});
