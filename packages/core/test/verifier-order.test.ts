import { randomBytes } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { createKeySet } from "../src/node/key-set.js";
import type { SelloKey } from "../src/node/types.js";
import {
  accessClaims,
  accessHeader,
  encodeSegment,
  forgeToken,
  invalid,
  makeKey,
  makeVerifier,
  NOW,
  rejectionOf,
  segmentsOf,
  signedToken,
  signingInput,
} from "./helpers/token-forge.js";

const key = makeKey("ES256");
const other = makeKey("ES256");
const verify = makeVerifier([key]);

/** Builds a token from the given parts with a well-formed ES256 signature by the wrong key. */
function badlySigned(parts: {
  header?: unknown;
  payload?: unknown;
  headerSegment?: string;
  payloadSegment?: string;
}): string {
  return forgeToken(
    { header: accessHeader(key), payload: accessClaims(), ...parts },
    { alg: "ES256", key: other.signKey as NonNullable<SelloKey["signKey"]> },
  );
}

describe("check order", () => {
  it("checks the length cap before the shape", () => {
    expect(rejectionOf(() => verify("a".repeat(8193)))).toEqual(invalid("token_too_long"));
  });

  it("checks the shape before base64url", () => {
    expect(rejectionOf(() => verify("a+b.c"))).toEqual(invalid("malformed"));
  });

  it("checks base64url before JSON", () => {
    const token = `${encodeSegment("not json")}=.${encodeSegment(accessClaims())}.c2ln`;
    expect(rejectionOf(() => verify(token))).toEqual(invalid("non_canonical_base64url"));
  });

  it("checks duplicates before alg", () => {
    const header = encodeSegment('{"alg":"none","alg":"none"}');
    expect(rejectionOf(() => verify(`${header}.e30.c2ln`))).toEqual(invalid("duplicate_member"));
  });

  it("checks alg before crit", () => {
    const token = badlySigned({ header: { alg: "none", crit: ["exp"] } });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("alg_none"));
  });

  it("checks the allowlist before crit", () => {
    const token = badlySigned({ header: { alg: "RS256", crit: ["exp"] } });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("alg_not_allowed"));
  });

  it("checks crit before b64 and zip", () => {
    const token = badlySigned({
      header: accessHeader(key, { crit: ["b64"], b64: false, zip: "DEF" }),
    });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("crit_unsupported"));
  });

  it("checks b64 before zip", () => {
    const token = badlySigned({ header: accessHeader(key, { b64: false, zip: "DEF" }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("b64_unsupported"));
  });

  it("checks zip before kid", () => {
    const token = badlySigned({ header: accessHeader(key, { zip: "DEF", kid: 5 }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("zip_unsupported"));
  });

  it("checks the kid type before key lookup", () => {
    const keys = createKeySet([key]);
    const getKey = vi.spyOn(keys, "getKey");
    const token = badlySigned({ header: accessHeader(key, { kid: "" }) });
    expect(rejectionOf(() => makeVerifier(keys, { algorithms: ["ES256"] })(token))).toEqual(
      invalid("kid_invalid"),
    );
    expect(getKey).not.toHaveBeenCalled();
  });

  it("checks the key before the signature", () => {
    const token = forgeToken(
      { header: accessHeader(other), payload: accessClaims() },
      { signature: Buffer.alloc(10) },
    );
    expect(rejectionOf(() => verify(token))).toEqual(invalid("unknown_kid"));
  });

  it("checks the key algorithm before the signature shape", () => {
    const rsa = makeKey("RS256");
    const both = makeVerifier([key, rsa]);
    const token = forgeToken(
      { header: accessHeader(rsa, { alg: "ES256" }), payload: accessClaims() },
      { signature: Buffer.alloc(10) },
    );
    expect(rejectionOf(() => both(token))).toEqual(invalid("alg_key_mismatch"));
  });

  it("checks the signature encoding before its length", () => {
    const input = signingInput({ header: accessHeader(key), payload: accessClaims() });
    expect(rejectionOf(() => verify(`${input}.AAAA=`))).toEqual(invalid("non_canonical_base64url"));
  });

  it("checks the signature shape before the signature", () => {
    const input = signingInput({ header: accessHeader(key), payload: accessClaims() });
    expect(rejectionOf(() => verify(`${input}.${randomBytes(63).toString("base64url")}`))).toEqual(
      invalid("signature_malformed"),
    );
  });

  it("reports a bad signature before expired claims", () => {
    const token = badlySigned({ payload: accessClaims({ exp: NOW - 3600 }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
  });

  it("reports a bad signature before payload JSON errors", () => {
    const token = badlySigned({ payload: "{not json" });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
  });

  it("reports a bad signature before a non-canonical payload", () => {
    const token = badlySigned({ payloadSegment: `${encodeSegment(accessClaims())}=` });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
  });

  it("reports a bad signature before a wrong typ", () => {
    const token = badlySigned({ header: accessHeader(key, { typ: "JWT" }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
  });

  it("never parses the payload before the signature passes", () => {
    const token = badlySigned({});
    const [, payload] = segmentsOf(token);
    const parse = vi.spyOn(JSON, "parse");
    try {
      expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
      const payloadText = Buffer.from(payload, "base64url").toString("utf8");
      expect(parse.mock.calls.some(([text]) => text === payloadText)).toBe(false);
    } finally {
      parse.mockRestore();
    }
  });

  it("checks payload JSON before typ", () => {
    const token = signedToken(key, { header: accessHeader(key, { typ: "JWT" }), payload: "[]" });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("not_json_object"));
  });

  it("checks typ before iss", () => {
    const token = signedToken(key, {
      header: accessHeader(key, { typ: "JWT" }),
      payload: accessClaims({ iss: "https://x.test" }),
    });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("typ_invalid"));
  });

  it("checks iss before aud", () => {
    const token = signedToken(key, {
      payload: accessClaims({ iss: "https://x.test", aud: "https://x.test" }),
    });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("iss_mismatch"));
  });

  it("checks aud before exp", () => {
    const token = signedToken(key, {
      payload: accessClaims({ aud: "https://x.test", exp: NOW - 3600 }),
    });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("aud_mismatch"));
  });

  it("checks exp before nbf", () => {
    const token = signedToken(key, { payload: accessClaims({ exp: NOW - 3600, nbf: NOW + 3600 }) });
    expect(rejectionOf(() => verify(token))).toEqual({ code: "token_expired", reason: "expired" });
  });

  it("checks nbf before iat", () => {
    const token = signedToken(key, { payload: accessClaims({ nbf: NOW + 3600, iat: NOW + 3600 }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("not_yet_valid"));
  });

  it("checks iat before the identity claims", () => {
    const token = signedToken(key, { payload: accessClaims({ iat: NOW + 3600, sub: "" }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("iat_in_future"));
  });

  it("checks exp before the iat type", () => {
    const token = signedToken(key, { payload: accessClaims({ exp: NOW - 3600, iat: "now" }) });
    expect(rejectionOf(() => verify(token))).toEqual({ code: "token_expired", reason: "expired" });
  });
});
