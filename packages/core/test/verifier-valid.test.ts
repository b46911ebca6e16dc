import { describe, expect, it } from "vitest";
import type { Algorithm } from "../src/algorithms.js";
import { createJwsVerifier } from "../src/node/jws.js";
import { createKeySet } from "../src/node/key-set.js";
import type { SelloKey } from "../src/node/types.js";
import {
  AUDIENCE,
  accessClaims,
  accessHeader,
  encodeSegment,
  ISSUER,
  invalid,
  makeKey,
  makeVerifier,
  NOW,
  rejectionOf,
  signedToken,
  without,
} from "./helpers/token-forge.js";

const cases: { name: string; alg: Algorithm; modulusLength?: number; pss?: boolean }[] = [
  { name: "ES256", alg: "ES256" },
  { name: "EdDSA", alg: "EdDSA" },
  { name: "RS256 with a 2048-bit key", alg: "RS256", modulusLength: 2048 },
  { name: "RS256 with a 3072-bit key", alg: "RS256", modulusLength: 3072 },
  { name: "PS256 with a 2048-bit key", alg: "PS256", modulusLength: 2048 },
  { name: "PS256 with a 3072-bit key", alg: "PS256", modulusLength: 3072 },
  { name: "PS256 with an rsa-pss key", alg: "PS256", pss: true },
  { name: "HS256", alg: "HS256" },
];

describe("valid access tokens", () => {
  for (const testCase of cases) {
    describe(testCase.name, () => {
      const key = makeKey(testCase.alg, testCase);
      const verify = makeVerifier([key]);

      it("returns the claims", () => {
        const claims = verify(signedToken(key));
        expect(claims).toEqual(accessClaims());
      });

      it("accepts a token without kid from a single-key source", () => {
        const token = signedToken(key, { header: without(accessHeader(key), "kid") });
        expect(verify(token).sub).toBe("user_123");
      });
    });
  }

  const key = makeKey("ES256");
  const verify = makeVerifier([key]);

  it("defaults absent roles and permissions to empty arrays", () => {
    const claims = verify(
      signedToken(key, { payload: without(accessClaims(), "roles", "permissions") }),
    );
    expect(claims.roles).toEqual([]);
    expect(claims.permissions).toEqual([]);
  });

  it("keeps extra claims", () => {
    const claims = verify(signedToken(key, { payload: accessClaims({ scope: "read write" }) }));
    expect(claims.scope).toBe("read write");
  });

  it("accepts a token without sid", () => {
    expect(
      verify(signedToken(key, { payload: without(accessClaims(), "sid") })).sid,
    ).toBeUndefined();
  });

  it.each(["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"])(
    "accepts typ %s",
    (typ) => {
      expect(verify(signedToken(key, { header: accessHeader(key, { typ }) })).sub).toBe("user_123");
    },
  );

  it("accepts an audience array that names this server", () => {
    const claims = verify(
      signedToken(key, { payload: accessClaims({ aud: ["other", AUDIENCE] }) }),
    );
    expect(claims.aud).toEqual(["other", AUDIENCE]);
  });

  it("accepts a token whose aud matches any configured audience", () => {
    const verifyMany = makeVerifier([key], { audience: ["https://a.test", "https://b.test"] });
    const token = signedToken(key, {
      payload: accessClaims({ aud: ["https://x.test", "https://b.test"] }),
    });
    expect(verifyMany(token).aud).toEqual(["https://x.test", "https://b.test"]);
  });

  it("accepts a token with nbf in the past", () => {
    expect(verify(signedToken(key, { payload: accessClaims({ nbf: NOW - 10 }) })).nbf).toBe(
      NOW - 10,
    );
  });

  it("accepts tokens from each key in a set", () => {
    const other = makeKey("EdDSA");
    const verifyBoth = makeVerifier([key, other]);
    expect(verifyBoth(signedToken(key)).iss).toBe(ISSUER);
    expect(verifyBoth(signedToken(other)).iss).toBe(ISSUER);
  });

  it("accepts a token of exactly the maximum length", () => {
    const token = tokenOfLength(key, 8192);
    expect(token).toHaveLength(8192);
    expect(verify(token).sub).toBe("user_123");
  });

  it("returns fresh claims without a cache", () => {
    const token = signedToken(key);
    expect(verify(token)).not.toBe(verify(token));
  });
});

/** Signs an ES256 token padded to exactly `length` characters. */
function tokenOfLength(key: SelloKey, length: number): string {
  const signatureLength = 86;
  for (let headerPad = 0; headerPad < 3; headerPad++) {
    const header = encodeSegment(accessHeader(key, { pad: "h".repeat(headerPad) }));
    for (let pad = 0; pad < length; pad++) {
      const payload = encodeSegment(accessClaims({ pad: "x".repeat(pad) }));
      const total = header.length + payload.length + signatureLength + 2;
      if (total === length) {
        return signedToken(key, { headerSegment: header, payloadSegment: payload });
      }
      if (total > length) {
        break;
      }
    }
  }
  throw new Error(`No padding gives a token of ${length} characters.`);
}

describe("createJwsVerifier", () => {
  const key = makeKey("ES256");
  const verifyJws = createJwsVerifier({ algorithms: ["ES256"], keys: createKeySet([key]) });

  it("returns the header, payload bytes and key", () => {
    const result = verifyJws(signedToken(key, { payload: "not json at all" }));
    expect(result.header).toEqual(accessHeader(key));
    expect(result.payload.toString("utf8")).toBe("not json at all");
    expect(result.key).toBe(key);
  });

  it("freezes the header", () => {
    const result = verifyJws(signedToken(key, { header: accessHeader(key, { ext: { a: [1] } }) }));
    expect(Object.isFrozen(result.header)).toBe(true);
    expect(Object.isFrozen(result.header.ext)).toBe(true);
  });

  it("rejects a non-canonical payload segment", () => {
    const token = signedToken(key, { payloadSegment: "e30=" });
    expect(rejectionOf(() => verifyJws(token))).toEqual(invalid("non_canonical_base64url"));
  });

  it("does not check typ", () => {
    const token = signedToken(key, { header: accessHeader(key, { typ: "JWT" }) });
    expect(verifyJws(token).header.typ).toBe("JWT");
  });
});
