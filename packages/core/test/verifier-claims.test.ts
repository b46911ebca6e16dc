import { describe, expect, it } from "vitest";
import {
  AUDIENCE,
  accessClaims,
  accessHeader,
  ISSUER,
  invalid,
  makeKey,
  makeVerifier,
  NOW,
  rejectionOf,
  signedToken,
  without,
} from "./helpers/token-forge.js";

const key = makeKey("EdDSA");
const verify = makeVerifier([key]);
const expired = { code: "token_expired", reason: "expired" };

/** Signs the standard claims with overrides. */
function tokenWith(overrides: Record<string, unknown>): string {
  return signedToken(key, { payload: accessClaims(overrides) });
}

/** Signs the standard claims without the named members. */
function tokenWithout(...names: string[]): string {
  return signedToken(key, { payload: without(accessClaims(), ...names) });
}

/** Signs raw claims text, for values JSON.stringify cannot produce. */
function tokenWithText(text: string): string {
  return signedToken(key, { header: accessHeader(key), payload: text });
}

describe("issuer", () => {
  it("rejects another issuer", () => {
    expect(rejectionOf(() => verify(tokenWith({ iss: "https://other.example.test" })))).toEqual(
      invalid("iss_mismatch"),
    );
  });

  it("rejects an issuer that differs in case", () => {
    expect(rejectionOf(() => verify(tokenWith({ iss: ISSUER.toUpperCase() })))).toEqual(
      invalid("iss_mismatch"),
    );
  });

  it("rejects an issuer with a trailing slash", () => {
    expect(rejectionOf(() => verify(tokenWith({ iss: `${ISSUER}/` })))).toEqual(
      invalid("iss_mismatch"),
    );
  });

  it("rejects a missing issuer", () => {
    expect(rejectionOf(() => verify(tokenWithout("iss")))).toEqual(invalid("iss_mismatch"));
  });

  it("rejects an issuer inside an array", () => {
    expect(rejectionOf(() => verify(tokenWith({ iss: [ISSUER] })))).toEqual(
      invalid("iss_mismatch"),
    );
  });
});

describe("audience", () => {
  const verifyTwo = makeVerifier([key], { audience: [AUDIENCE, "https://admin.example.test"] });

  it("accepts a matching string", () => {
    expect(verify(tokenWith({ aud: AUDIENCE })).aud).toBe(AUDIENCE);
  });

  it("accepts an array that overlaps a configured array", () => {
    const token = tokenWith({ aud: ["https://x.test", "https://admin.example.test"] });
    expect(verifyTwo(token).aud).toEqual(["https://x.test", "https://admin.example.test"]);
  });

  it("accepts a string that matches a configured array", () => {
    expect(verifyTwo(tokenWith({ aud: "https://admin.example.test" })).sub).toBe("user_123");
  });

  it("rejects another audience string", () => {
    expect(rejectionOf(() => verify(tokenWith({ aud: "https://x.test" })))).toEqual(
      invalid("aud_mismatch"),
    );
  });

  it("rejects an array without overlap", () => {
    expect(
      rejectionOf(() => verifyTwo(tokenWith({ aud: ["https://x.test", "https://y.test"] }))),
    ).toEqual(invalid("aud_mismatch"));
  });

  it("rejects an empty array", () => {
    expect(rejectionOf(() => verify(tokenWith({ aud: [] })))).toEqual(invalid("aud_mismatch"));
  });

  it("rejects a missing audience", () => {
    expect(rejectionOf(() => verify(tokenWithout("aud")))).toEqual(invalid("aud_mismatch"));
  });

  it("rejects an audience that is a number", () => {
    expect(rejectionOf(() => verify(tokenWith({ aud: 1 })))).toEqual(invalid("claim_invalid"));
  });

  it("rejects an array with a non-string entry", () => {
    expect(rejectionOf(() => verify(tokenWith({ aud: [AUDIENCE, 1] })))).toEqual(
      invalid("claim_invalid"),
    );
  });

  it("rejects a nested array", () => {
    expect(rejectionOf(() => verify(tokenWith({ aud: [[AUDIENCE]] })))).toEqual(
      invalid("claim_invalid"),
    );
  });
});

describe("expiry with the default 5-second tolerance", () => {
  it("accepts a token that expired within the tolerance", () => {
    expect(verify(tokenWith({ exp: NOW - 4 })).exp).toBe(NOW - 4);
  });

  it("rejects a token that expired exactly at the tolerance", () => {
    expect(rejectionOf(() => verify(tokenWith({ exp: NOW - 5 })))).toEqual(expired);
  });

  it("rejects a token that expired beyond the tolerance", () => {
    expect(rejectionOf(() => verify(tokenWith({ exp: NOW - 60 })))).toEqual(expired);
  });

  it("uses a custom tolerance", () => {
    const strict = makeVerifier([key], { clockTolerance: 0 });
    expect(rejectionOf(() => strict(tokenWith({ exp: NOW })))).toEqual(expired);
    expect(strict(tokenWith({ exp: NOW + 1 })).exp).toBe(NOW + 1);
  });

  it("accepts a tolerance written as a duration", () => {
    const relaxed = makeVerifier([key], { clockTolerance: "1m" });
    expect(relaxed(tokenWith({ exp: NOW - 59 })).exp).toBe(NOW - 59);
    expect(rejectionOf(() => relaxed(tokenWith({ exp: NOW - 60 })))).toEqual(expired);
  });

  it("compares whole seconds of the clock", () => {
    const late = makeVerifier([key], { clock: () => (NOW + 5) * 1000 + 999 });
    expect(rejectionOf(() => late(tokenWith({ exp: NOW })))).toEqual(expired);
    const early = makeVerifier([key], { clock: () => (NOW + 5) * 1000 - 1 });
    expect(early(tokenWith({ exp: NOW })).exp).toBe(NOW);
  });
});

describe("not-before", () => {
  it("accepts nbf within the tolerance", () => {
    expect(verify(tokenWith({ nbf: NOW + 5 })).nbf).toBe(NOW + 5);
  });

  it("rejects nbf beyond the tolerance", () => {
    expect(rejectionOf(() => verify(tokenWith({ nbf: NOW + 6 })))).toEqual(
      invalid("not_yet_valid"),
    );
  });

  it("rejects nbf far in the future", () => {
    expect(rejectionOf(() => verify(tokenWith({ nbf: NOW + 3600 })))).toEqual(
      invalid("not_yet_valid"),
    );
  });
});

describe("issued-at", () => {
  it("accepts iat within the tolerance", () => {
    expect(verify(tokenWith({ iat: NOW + 5 })).iat).toBe(NOW + 5);
  });

  it("rejects iat beyond the tolerance", () => {
    expect(rejectionOf(() => verify(tokenWith({ iat: NOW + 6 })))).toEqual(
      invalid("iat_in_future"),
    );
  });

  it("accepts iat long in the past", () => {
    expect(verify(tokenWith({ iat: NOW - 86_400 })).iat).toBe(NOW - 86_400);
  });
});

describe("time claim types", () => {
  it.each([
    ["exp as a string", { exp: String(NOW + 600) }],
    ["iat as a string", { iat: String(NOW) }],
    ["nbf as a string", { nbf: String(NOW) }],
    ["exp as null", { exp: null }],
    ["iat as null", { iat: null }],
    ["nbf as null", { nbf: null }],
    ["exp as a boolean", { exp: true }],
    ["exp as an array", { exp: [NOW + 600] }],
    ["iat as an object", { iat: { value: NOW } }],
  ])("rejects %s", (_name, overrides) => {
    expect(rejectionOf(() => verify(tokenWith(overrides)))).toEqual(invalid("claim_invalid"));
  });

  it.each([
    ["exp", "1e400"],
    ["exp", "-1e400"],
    ["iat", "1e400"],
    ["iat", "-1e400"],
    ["nbf", "-1e400"],
  ])("rejects %s that parses to an infinity (%s)", (claim, literal) => {
    const text = JSON.stringify(accessClaims({ [claim]: 0 })).replace(
      `"${claim}":0`,
      `"${claim}":${literal}`,
    );
    expect(rejectionOf(() => verify(tokenWithText(text)))).toEqual(invalid("claim_invalid"));
  });

  it("rejects a missing exp", () => {
    expect(rejectionOf(() => verify(tokenWithout("exp")))).toEqual(invalid("claim_invalid"));
  });

  it("rejects a missing iat", () => {
    expect(rejectionOf(() => verify(tokenWithout("iat")))).toEqual(invalid("claim_invalid"));
  });

  it("accepts fractional times", () => {
    expect(verify(tokenWith({ exp: NOW + 0.5, iat: NOW - 0.5 })).exp).toBe(NOW + 0.5);
  });
});

describe("identity claims", () => {
  it.each(["sub", "jti", "client_id"])("rejects a missing %s", (claim) => {
    expect(rejectionOf(() => verify(tokenWithout(claim)))).toEqual(invalid("claim_invalid"));
  });

  it.each(["sub", "jti", "client_id"])("rejects an empty %s", (claim) => {
    expect(rejectionOf(() => verify(tokenWith({ [claim]: "" })))).toEqual(invalid("claim_invalid"));
  });

  it.each(["sub", "jti", "client_id"])("rejects a numeric %s", (claim) => {
    expect(rejectionOf(() => verify(tokenWith({ [claim]: 123 })))).toEqual(
      invalid("claim_invalid"),
    );
  });

  it("rejects a numeric sid", () => {
    expect(rejectionOf(() => verify(tokenWith({ sid: 1 })))).toEqual(invalid("claim_invalid"));
  });

  it("rejects a null sid", () => {
    expect(rejectionOf(() => verify(tokenWith({ sid: null })))).toEqual(invalid("claim_invalid"));
  });

  it.each(["roles", "permissions"])("rejects %s that is not an array", (claim) => {
    expect(rejectionOf(() => verify(tokenWith({ [claim]: "admin" })))).toEqual(
      invalid("claim_invalid"),
    );
  });

  it.each(["roles", "permissions"])("rejects %s containing a non-string", (claim) => {
    expect(rejectionOf(() => verify(tokenWith({ [claim]: ["user", 1] })))).toEqual(
      invalid("claim_invalid"),
    );
  });

  it.each(["roles", "permissions"])("rejects %s as null", (claim) => {
    expect(rejectionOf(() => verify(tokenWith({ [claim]: null })))).toEqual(
      invalid("claim_invalid"),
    );
  });

  it("accepts empty role and permission lists", () => {
    const claims = verify(tokenWith({ roles: [], permissions: [] }));
    expect(claims.roles).toEqual([]);
    expect(claims.permissions).toEqual([]);
  });
});

describe("claims with unusual but valid JSON", () => {
  it("accepts escaped claim names", () => {
    const text = JSON.stringify(accessClaims()).replace('"sub":', '"\\u0073ub":');
    expect(verify(tokenWithText(text)).sub).toBe("user_123");
  });

  it("accepts whitespace in the claims text", () => {
    const text = JSON.stringify(accessClaims(), null, 2);
    expect(verify(tokenWithText(text)).sub).toBe("user_123");
  });

  it("keeps a __proto__ claim as an own property", () => {
    const text = JSON.stringify(accessClaims()).replace(/}$/, ',"__proto__":{"admin":true}}');
    const claims = verify(tokenWithText(text));
    expect(Object.getPrototypeOf(claims)).toBe(Object.prototype);
    expect((claims as Record<string, unknown>).admin).toBeUndefined();
  });
});
