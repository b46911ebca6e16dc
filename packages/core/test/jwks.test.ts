import { constants, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ALGORITHMS, type Algorithm, ASYMMETRIC_ALGORITHMS } from "../src/algorithms.js";
import { SelloError } from "../src/errors.js";
import { importJwks, toPublicJwks } from "../src/node/jwks.js";
import {
  exportPrivateJwk,
  exportPublicJwk,
  generateKey,
  type JWK,
  PRIVATE_JWK_MEMBERS,
} from "../src/node/keys.js";
import type { SelloKey } from "../src/node/types.js";

const keys = {} as Record<Algorithm, SelloKey>;

beforeAll(() => {
  for (const alg of ALGORITHMS) {
    keys[alg] = generateKey(alg);
  }
});

function publicJwk(alg: Algorithm, overrides: Record<string, unknown> = {}): JWK {
  return { ...exportPublicJwk(keys[alg]), ...overrides };
}

function expectJwksInvalid(value: unknown): void {
  let caught: unknown;
  try {
    importJwks(value);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(SelloError);
  expect((caught as SelloError).code).toBe("service_unavailable");
  expect((caught as SelloError).reason).toBe("jwks_invalid");
}

describe("toPublicJwks", () => {
  it("every algorithm but HS256 published", () => {
    const jwks = toPublicJwks(ALGORITHMS.map((alg) => keys[alg]));
    expect(jwks.keys.map((jwk) => jwk.alg)).toEqual([...ASYMMETRIC_ALGORITHMS]);
  });

  it("no private members", () => {
    const jwks = toPublicJwks(ALGORITHMS.map((alg) => keys[alg]));
    for (const jwk of jwks.keys) {
      for (const member of PRIVATE_JWK_MEMBERS) {
        expect(jwk, `${jwk.alg} ${member}`).not.toHaveProperty(member);
      }
    }
  });

  it("no oct key", () => {
    const jwks = toPublicJwks([keys.HS256, generateKey("HS256")]);
    expect(jwks).toEqual({ keys: [] });
  });

  it("kid, alg and use set", () => {
    const jwks = toPublicJwks(ALGORITHMS.map((alg) => keys[alg]));
    for (const jwk of jwks.keys) {
      const alg = jwk.alg as Algorithm;
      expect(jwk.kid).toBe(keys[alg].kid);
      expect(jwk.use).toBe("sig");
      expect(jwk.kty).not.toBe("oct");
    }
  });

  it("serialized JWKS omits private values", () => {
    const text = JSON.stringify(toPublicJwks(ALGORITHMS.map((alg) => keys[alg])));
    for (const alg of ALGORITHMS) {
      const privateJwk = exportPrivateJwk(keys[alg]);
      for (const member of PRIVATE_JWK_MEMBERS) {
        const value = privateJwk[member];
        if (typeof value === "string") {
          expect(text).not.toContain(value);
        }
      }
    }
    expect(text).not.toContain("PRIVATE");
  });

  it("accepts any iterable", () => {
    const set = new Set([keys.ES256, keys.EdDSA]);
    expect(toPublicJwks(set.values()).keys).toHaveLength(2);
  });
});

describe("importJwks", () => {
  it("round trips every asymmetric key", () => {
    const imported = importJwks(toPublicJwks(ALGORITHMS.map((alg) => keys[alg])));
    expect(imported.map((key) => key.kid)).toEqual(
      ASYMMETRIC_ALGORITHMS.map((alg) => keys[alg].kid),
    );
    for (const key of imported) {
      expect(key.signKey).toBeUndefined();
      expect(key.verifyKey.type).toBe("public");
      expect(Object.isFrozen(key)).toBe(true);
    }
  });

  it("imported keys verify signatures", () => {
    const data = Buffer.from("header.payload");
    const imported = importJwks(toPublicJwks([keys.ES256, keys.PS256]));
    const [es256, ps256] = imported as [SelloKey, SelloKey];

    const es256Signature = sign("sha256", data, {
      key: keys.ES256.signKey as KeyObject,
      dsaEncoding: "ieee-p1363",
    });
    expect(
      verify("sha256", data, { key: es256.verifyKey, dsaEncoding: "ieee-p1363" }, es256Signature),
    ).toBe(true);

    const pss = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
    const ps256Signature = sign("sha256", data, { key: keys.PS256.signKey as KeyObject, ...pss });
    expect(verify("sha256", data, { key: ps256.verifyKey, ...pss }, ps256Signature)).toBe(true);
  });

  it("kid kept as given", () => {
    const [key] = importJwks({ keys: [publicJwk("EdDSA", { kid: "2024-rotation" })] });
    expect(key?.kid).toBe("2024-rotation");
  });

  it("256-character kid kept", () => {
    const kid = "k".repeat(256);
    expect(importJwks({ keys: [publicJwk("ES256", { kid })] })[0]?.kid).toBe(kid);
  });

  it("long, empty or missing kid skipped", () => {
    const { kid: _kid, ...withoutKid } = publicJwk("ES256");
    const jwks = {
      keys: [
        publicJwk("ES256", { kid: "k".repeat(257) }),
        publicJwk("ES256", { kid: "" }),
        publicJwk("ES256", { kid: 7 }),
        withoutKid,
      ],
    };
    expect(importJwks(jwks)).toEqual([]);
  });

  it("use other than sig skipped", () => {
    expect(importJwks({ keys: [publicJwk("ES256", { use: "enc" })] })).toEqual([]);
  });

  it("missing use accepted", () => {
    const { use: _use, ...jwk } = publicJwk("ES256");
    expect(importJwks({ keys: [jwk] })).toHaveLength(1);
  });

  it("key_ops without verify skipped", () => {
    const jwks = {
      keys: [
        publicJwk("ES256", { key_ops: ["encrypt"], kid: "a" }),
        publicJwk("ES256", { key_ops: "verify", kid: "b" }),
        publicJwk("ES256", { key_ops: [], kid: "c" }),
        publicJwk("ES256", { key_ops: ["verify"], kid: "d" }),
      ],
    };
    expect(importJwks(jwks).map((key) => key.kid)).toEqual(["d"]);
  });

  it("oct key skipped", () => {
    const octJwk = { ...exportPrivateJwk(keys.HS256), use: "sig" };
    expect(importJwks({ keys: [octJwk] })).toEqual([]);
    expect(importJwks({ keys: [{ kty: "oct", kid: "x", alg: "HS256" }] })).toEqual([]);
  });

  it("key with private members skipped", () => {
    const jwks = {
      keys: [
        { ...exportPrivateJwk(keys.ES256), use: "sig" },
        { ...exportPrivateJwk(keys.RS256), use: "sig" },
        publicJwk("EdDSA", { d: "" }),
      ],
    };
    expect(importJwks(jwks)).toEqual([]);
  });

  it("missing or unsupported alg skipped", () => {
    const { alg: _alg, ...withoutAlg } = publicJwk("ES256");
    const jwks = {
      keys: [
        withoutAlg,
        publicJwk("ES256", { alg: "ES384" }),
        publicJwk("RS256", { alg: "none" }),
        publicJwk("ES256", { alg: "HS256" }),
      ],
    };
    expect(importJwks(jwks)).toEqual([]);
  });

  it("type not matching alg skipped", () => {
    const jwks = {
      keys: [
        publicJwk("ES256", { alg: "RS256" }),
        publicJwk("EdDSA", { alg: "ES256" }),
        publicJwk("RS256", { alg: "EdDSA" }),
      ],
    };
    expect(importJwks(jwks)).toEqual([]);
  });

  it("P-384 key skipped", () => {
    const pair = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const jwk = {
      ...pair.publicKey.export({ format: "jwk" }),
      kid: "p384",
      alg: "ES256",
      use: "sig",
    };
    expect(importJwks({ keys: [jwk] })).toEqual([]);
  });

  it("RSA 1024-bit key skipped", () => {
    const pair = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const jwk = {
      ...pair.publicKey.export({ format: "jwk" }),
      kid: "small",
      alg: "RS256",
      use: "sig",
    };
    expect(importJwks({ keys: [jwk] })).toEqual([]);
  });

  it("invalid EC point skipped", () => {
    const jwk = publicJwk("ES256", { y: publicJwk("ES256").x });
    expect(importJwks({ keys: [jwk] })).toEqual([]);
  });

  it("unknown kty skipped", () => {
    expect(importJwks({ keys: [{ kty: "XYZ", kid: "x", alg: "ES256" }] })).toEqual([]);
  });

  it("non-object entries skipped", () => {
    const jwks = { keys: [null, 1, "key", [], publicJwk("EdDSA")] };
    expect(importJwks(jwks).map((key) => key.kid)).toEqual([keys.EdDSA.kid]);
  });

  it("duplicate kid keeps first", () => {
    const jwks = {
      keys: [publicJwk("ES256", { kid: "same" }), publicJwk("EdDSA", { kid: "same" })],
    };
    const imported = importJwks(jwks);
    expect(imported).toHaveLength(1);
    expect(imported[0]?.alg).toBe("ES256");
  });

  it("algorithms option filters", () => {
    const jwks = toPublicJwks(ASYMMETRIC_ALGORITHMS.map((alg) => keys[alg]));
    const imported = importJwks(jwks, { algorithms: ["EdDSA", "PS256"] });
    expect(imported.map((key) => key.alg)).toEqual(["EdDSA", "PS256"]);
  });

  it("algorithms option cannot admit HS256", () => {
    const octJwk = { kty: "oct", k: "AAAA", kid: "x", alg: "HS256" };
    expect(importJwks({ keys: [octJwk] }, { algorithms: ["HS256"] })).toEqual([]);
  });

  it("extra members ignored", () => {
    const jwk = publicJwk("RS256", { x5t: "abc", custom: { nested: true } });
    expect(importJwks({ keys: [jwk] })[0]?.kid).toBe(keys.RS256.kid);
  });

  it("empty keys array accepted", () => {
    expect(importJwks({ keys: [] })).toEqual([]);
  });

  it("non-object document rejected", () => {
    for (const value of [null, undefined, 42, "{}", [], [publicJwk("ES256")], true]) {
      expectJwksInvalid(value);
    }
  });

  it("missing keys array rejected", () => {
    for (const value of [{}, { keys: "x" }, { keys: {} }, { keys: null }, { Keys: [] }]) {
      expectJwksInvalid(value);
    }
  });

  it("arbitrary documents never crash", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        try {
          importJwks(value);
        } catch (error) {
          expect(error).toBeInstanceOf(SelloError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("arbitrary entries never throw", () => {
    const entry = fc.record(
      {
        kty: fc.constantFrom("EC", "OKP", "RSA", "oct", "x"),
        kid: fc.string(),
        alg: fc.constantFrom(...ALGORITHMS, "none"),
        use: fc.constantFrom("sig", "enc"),
        crv: fc.constantFrom("P-256", "Ed25519", "X25519"),
        x: fc.base64String(),
        y: fc.base64String(),
        n: fc.base64String(),
        e: fc.constantFrom("AQAB", "", "AA"),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 5 }), (entries) => {
        const imported = importJwks({ keys: entries });
        for (const key of imported) {
          expect(key.signKey).toBeUndefined();
        }
      }),
      { numRuns: 200 },
    );
  });
});
