import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createKeySet } from "../src/node/key-set.js";
import type { KeySource, SelloKey } from "../src/node/types.js";
import {
  accessClaims,
  accessHeader,
  encodeSegment,
  forgeToken,
  invalid,
  makeKey,
  makeVerifier,
  rejectionOf,
  replaceAt,
  segmentsOf,
  signBytes,
  signedToken,
  signingInput,
  without,
} from "./helpers/token-forge.js";

const key = makeKey("ES256");
const otherKey = makeKey("ES256");
const verify = makeVerifier([key]);
const signKey = key.signKey as NonNullable<SelloKey["signKey"]>;

/** Signs the exact segment texts with the test key, so only the tested part is wrong. */
function signSegments(header: string, payload: string): string {
  const signature = signBytes("ES256", signKey, Buffer.from(`${header}.${payload}`, "latin1"));
  return `${header}.${payload}.${signature.toString("base64url")}`;
}

const validToken = signedToken(key);
const [validHeader, validPayload, validSignature] = segmentsOf(validToken);

describe("token shape", () => {
  it.each([
    ["two segments", `${validHeader}.${validPayload}`],
    ["four segments", `${validToken}.${validSignature}`],
    ["five segments", `${validToken}.${validSignature}.${validSignature}`],
    ["an empty signature", `${validHeader}.${validPayload}.`],
    ["an empty header", `.${validPayload}.${validSignature}`],
    ["an empty payload", `${validHeader}..${validSignature}`],
    ["the empty string", ""],
    ["only dots", ".."],
    ["one segment", validHeader],
  ])("rejects %s", (_name, token) => {
    expect(rejectionOf(() => verify(token))).toEqual(invalid("malformed"));
  });

  it.each([
    ["undefined", undefined],
    ["null", null],
    ["a number", 42],
    ["an object", { token: validToken }],
    ["a Buffer", Buffer.from(validToken)],
  ])("rejects %s as input", (_name, input) => {
    expect(rejectionOf(() => verify(input as unknown as string))).toEqual(invalid("malformed"));
  });

  it("rejects a token with a Bearer prefix", () => {
    expect(rejectionOf(() => verify(`Bearer ${validToken}`))).toEqual(
      invalid("non_canonical_base64url"),
    );
  });

  it("rejects a token with surrounding whitespace", () => {
    expect(rejectionOf(() => verify(` ${validToken}\n`))).toEqual(
      invalid("non_canonical_base64url"),
    );
  });
});

describe("length cap", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("rejects 8193 characters without decoding or key lookup", () => {
    const token = signedToken(key, { payload: accessClaims({ pad: "x".repeat(8000) }) }).slice(
      0,
      8193,
    );
    const keys: KeySource = createKeySet([key]);
    const capped = makeVerifier(keys, { algorithms: ["ES256"] });
    const parse = vi.spyOn(JSON, "parse");
    const decode = vi.spyOn(Buffer, "from");
    const getKey = vi.spyOn(keys, "getKey");
    const getOnlyKey = vi.spyOn(keys, "getOnlyKey");

    expect(token.length).toBe(8193);
    expect(rejectionOf(() => capped(token))).toEqual(invalid("token_too_long"));
    expect(parse).not.toHaveBeenCalled();
    expect(decode).not.toHaveBeenCalled();
    expect(getKey).not.toHaveBeenCalled();
    expect(getOnlyKey).not.toHaveBeenCalled();
  });

  it("rejects a token one character over a custom cap", () => {
    const custom = makeVerifier([key], { maxTokenLength: validToken.length - 1 });
    expect(rejectionOf(() => custom(validToken))).toEqual(invalid("token_too_long"));
  });

  it("accepts a token at a custom cap", () => {
    const custom = makeVerifier([key], { maxTokenLength: validToken.length });
    expect(custom(validToken).sub).toBe("user_123");
  });

  it("accepts a long token under a raised cap", () => {
    const token = signedToken(key, { payload: accessClaims({ pad: "x".repeat(20_000) }) });
    const custom = makeVerifier([key], { maxTokenLength: 40_000 });
    expect(custom(token).pad).toHaveLength(20_000);
  });
});

/** Encodes `base` plus a filler so that the segment contains `-` and `_` and its length mod 4 is not 0. */
function segmentWithAllFeatures(base: Record<string, unknown>): string {
  // ">>>" encodes to "Pj4-" and "???" to "Pz8_" when they start on a 3-byte boundary.
  for (let prefix = 0; prefix < 3; prefix++) {
    for (let suffix = 0; suffix < 3; suffix++) {
      const filler = `${"a".repeat(prefix)}>>>???${"a".repeat(suffix)}`;
      const segment = encodeSegment({ ...base, x: filler });
      if (segment.includes("-") && segment.includes("_") && segment.length % 4 !== 0) {
        return segment;
      }
    }
  }
  throw new Error("No filler produced the required segment.");
}

/** Signs the segments until the signature segment contains both `-` and `_`. */
function signatureWithBothSymbols(header: string, payload: string): string {
  for (;;) {
    const signature = segmentsOf(signSegments(header, payload))[2];
    if (signature.includes("-") && signature.includes("_")) {
      return signature;
    }
  }
}

/** Sets the lowest bit of the last character's 6-bit value, one of its unused bits. */
function setUnusedBit(segment: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const last = alphabet.indexOf(segment.at(-1) as string);
  return replaceAt(segment, segment.length - 1, alphabet[last | 1] as string);
}

/** Replaces a character with one above U+00FF whose low byte is the original character. */
function aliasAbove255(segment: string, index: number): string {
  return replaceAt(segment, index, String.fromCharCode(0x100 + segment.charCodeAt(index)));
}

const mutations: [string, (segment: string) => string][] = [
  ["= padding", (segment) => `${segment}=`],
  ["+ instead of -", (segment) => segment.replace("-", "+")],
  ["/ instead of _", (segment) => segment.replace("_", "/")],
  ["a space", (segment) => `${segment.slice(0, 10)} ${segment.slice(10)}`],
  ["a newline", (segment) => `${segment.slice(0, 10)}\n${segment.slice(10)}`],
  ["a tab", (segment) => `${segment.slice(0, 10)}\t${segment.slice(10)}`],
  ["an exclamation mark", (segment) => replaceAt(segment, 5, "!")],
  ["an asterisk", (segment) => replaceAt(segment, 5, "*")],
  ["a non-ASCII letter", (segment) => replaceAt(segment, 5, "é")],
  ["non-zero unused bits", setUnusedBit],
];

describe("non-canonical base64url", () => {
  const header = segmentWithAllFeatures(accessHeader(key));
  const payload = segmentWithAllFeatures(accessClaims());
  const signature = signatureWithBothSymbols(header, payload);

  it("accepts the unmodified segments", () => {
    expect(verify(`${header}.${payload}.${signature}`).sub).toBe("user_123");
  });

  for (const [name, mutate] of mutations) {
    it(`rejects ${name} in the header`, () => {
      const mutated = mutate(header);
      expect(mutated).not.toBe(header);
      expect(rejectionOf(() => verify(signSegments(mutated, payload)))).toEqual(
        invalid("non_canonical_base64url"),
      );
    });

    it(`rejects ${name} in the payload`, () => {
      const mutated = mutate(payload);
      expect(mutated).not.toBe(payload);
      expect(rejectionOf(() => verify(signSegments(header, mutated)))).toEqual(
        invalid("non_canonical_base64url"),
      );
    });

    it(`rejects ${name} in the signature`, () => {
      const mutated = mutate(signature);
      expect(mutated).not.toBe(signature);
      expect(rejectionOf(() => verify(`${header}.${payload}.${mutated}`))).toEqual(
        invalid("non_canonical_base64url"),
      );
    });
  }

  it("rejects a latin1-aliased payload character", () => {
    const token = `${header}.${aliasAbove255(payload, 7)}.${signature}`;
    expect(rejectionOf(() => verify(token))).toEqual(invalid("non_canonical_base64url"));
  });

  it("rejects a latin1-aliased header character", () => {
    const token = `${aliasAbove255(header, 7)}.${payload}.${signature}`;
    expect(rejectionOf(() => verify(token))).toEqual(invalid("non_canonical_base64url"));
  });

  it("rejects a latin1-aliased signature character", () => {
    const token = `${header}.${payload}.${aliasAbove255(signature, 7)}`;
    expect(rejectionOf(() => verify(token))).toEqual(invalid("non_canonical_base64url"));
  });
});

describe("duplicate member names", () => {
  const headerText = `{"alg":"ES256","kid":"${key.kid}","typ":"at+jwt"`;
  const claims = JSON.stringify(accessClaims()).slice(0, -1);

  it.each([
    ["a repeated alg", `${headerText},"alg":"ES256"}`],
    ["a repeated kid", `${headerText},"kid":"${key.kid}"}`],
    ["an escaped repeat of alg", `${headerText},"\\u0061lg":"ES256"}`],
    ["a nested duplicate", `${headerText},"ext":{"a":1,"a":2}}`],
    ["a duplicate inside an array", `${headerText},"ext":[{"a":1,"\\u0061":2}]}`],
  ])("rejects %s in the header", (_name, text) => {
    const token = signSegments(encodeSegment(text), encodeSegment(accessClaims()));
    expect(rejectionOf(() => verify(token))).toEqual(invalid("duplicate_member"));
  });

  it.each([
    ["a repeated sub", `${claims},"sub":"admin"}`],
    ["an escaped repeat of sub", `${claims},"\\u0073ub":"admin"}`],
    ["a repeated exp", `${claims},"exp":9999999999}`],
    ["a nested duplicate", `${claims},"ext":{"role":"user","role":"admin"}}`],
    ["a duplicate inside an array", `${claims},"ext":[{"a":1},{"b":1,"b":2}]}`],
  ])("rejects %s in the payload", (_name, text) => {
    const token = signSegments(validHeader, encodeSegment(text));
    expect(rejectionOf(() => verify(token))).toEqual(invalid("duplicate_member"));
  });
});

describe("JSON that is not an object", () => {
  it.each([
    ["an array", "[]"],
    ["a string", '"ES256"'],
    ["a number", "1"],
    ["null", "null"],
  ])("rejects a header that is %s", (_name, text) => {
    const token = signSegments(encodeSegment(text), validPayload);
    expect(rejectionOf(() => verify(token))).toEqual(invalid("not_json_object"));
  });

  it.each([
    ["an array", "[]"],
    ["a string", '"claims"'],
    ["a number", "1"],
    ["null", "null"],
  ])("rejects a payload that is %s", (_name, text) => {
    const token = signSegments(validHeader, encodeSegment(text));
    expect(rejectionOf(() => verify(token))).toEqual(invalid("not_json_object"));
  });

  it("rejects a header that is not JSON", () => {
    const token = signSegments(encodeSegment('{"alg":"ES256"'), validPayload);
    expect(rejectionOf(() => verify(token))).toEqual(invalid("malformed"));
  });

  it("rejects a payload that is not JSON", () => {
    const token = signSegments(validHeader, encodeSegment("{sub: 1}"));
    expect(rejectionOf(() => verify(token))).toEqual(invalid("malformed"));
  });

  it("rejects a payload with a byte order mark", () => {
    const token = signSegments(
      validHeader,
      encodeSegment(`\uFEFF${JSON.stringify(accessClaims())}`),
    );
    expect(rejectionOf(() => verify(token))).toEqual(invalid("malformed"));
  });

  it("rejects a header that is not UTF-8", () => {
    const bytes = Buffer.concat([
      Buffer.from('{"alg":"ES256","x":"'),
      Buffer.from([0xff]),
      Buffer.from('"}'),
    ]);
    const token = signSegments(encodeSegment(bytes), validPayload);
    expect(rejectionOf(() => verify(token))).toEqual(invalid("invalid_utf8"));
  });

  it("rejects a payload that is not UTF-8", () => {
    const text = JSON.stringify(accessClaims({ name: "Zo\u00eb" }));
    const bytes = Buffer.from(text, "utf8");
    const index = bytes.indexOf(0xc3);
    bytes[index] = 0xc0;
    const token = signSegments(validHeader, encodeSegment(bytes));
    expect(rejectionOf(() => verify(token))).toEqual(invalid("invalid_utf8"));
  });
});

describe("kid", () => {
  it.each([
    ["a number", 7],
    ["an object", { id: key.kid }],
    ["null", null],
    ["an array", [key.kid]],
    ["empty", ""],
    ["longer than 256 characters", "k".repeat(257)],
  ])("rejects a kid that is %s", (_name, kid) => {
    const token = signedToken(key, { header: accessHeader(key, { kid }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("kid_invalid"));
  });

  it("looks up a kid of exactly 256 characters", () => {
    const token = signedToken(key, { header: accessHeader(key, { kid: "k".repeat(256) }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("unknown_kid"));
  });

  it("rejects an unknown kid", () => {
    const token = signedToken(otherKey);
    expect(rejectionOf(() => verify(token))).toEqual(invalid("unknown_kid"));
  });

  it("matches kid exactly, not ignoring case", () => {
    const token = signedToken(key, { header: accessHeader(key, { kid: key.kid.toUpperCase() }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("unknown_kid"));
  });

  it("matches kid exactly, not ignoring whitespace", () => {
    const token = signedToken(key, { header: accessHeader(key, { kid: `${key.kid} ` }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("unknown_kid"));
  });

  it("rejects a missing kid with two keys", () => {
    const verifyTwo = makeVerifier([key, otherKey]);
    const token = signedToken(key, { header: without(accessHeader(key), "kid") });
    expect(rejectionOf(() => verifyTwo(token))).toEqual(invalid("kid_required"));
  });

  it("rejects a missing kid with no keys", () => {
    const empty = makeVerifier(createKeySet([]), { algorithms: ["ES256"] });
    const token = signedToken(key, { header: without(accessHeader(key), "kid") });
    expect(rejectionOf(() => empty(token))).toEqual(invalid("kid_required"));
  });

  it("rejects another key's signature", () => {
    const token = forgeToken(
      { header: accessHeader(key), payload: accessClaims() },
      { alg: "ES256", key: otherKey.signKey as NonNullable<SelloKey["signKey"]> },
    );
    expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
  });
});

describe("signature", () => {
  it("rejects a signature over different claims", () => {
    const other = segmentsOf(signedToken(key, { payload: accessClaims({ sub: "admin" }) }))[2];
    expect(rejectionOf(() => verify(`${validHeader}.${validPayload}.${other}`))).toEqual(
      invalid("signature_invalid"),
    );
  });

  it("rejects an HS256 signature of the wrong length", () => {
    const hs = makeKey("HS256");
    const input = signingInput({ header: accessHeader(hs), payload: accessClaims() });
    const token = `${input}.${randomBytes(31).toString("base64url")}`;
    expect(rejectionOf(() => makeVerifier([hs])(token))).toEqual(invalid("signature_malformed"));
  });

  it("rejects an RSA signature one byte short", () => {
    const rsa = makeKey("RS256");
    const input = signingInput({ header: accessHeader(rsa), payload: accessClaims() });
    const token = `${input}.${randomBytes(255).toString("base64url")}`;
    expect(rejectionOf(() => makeVerifier([rsa])(token))).toEqual(invalid("signature_malformed"));
  });

  it("rejects an EdDSA signature of 65 bytes", () => {
    const ed = makeKey("EdDSA");
    const input = signingInput({ header: accessHeader(ed), payload: accessClaims() });
    const token = `${input}.${randomBytes(65).toString("base64url")}`;
    expect(rejectionOf(() => makeVerifier([ed])(token))).toEqual(invalid("signature_malformed"));
  });

  it("rejects an RSA signature above the modulus", () => {
    const rsa = makeKey("RS256");
    const input = signingInput({ header: accessHeader(rsa), payload: accessClaims() });
    const token = `${input}.${Buffer.alloc(256, 0xff).toString("base64url")}`;
    expect(rejectionOf(() => makeVerifier([rsa])(token))).toEqual(invalid("signature_invalid"));
  });
});

describe("error messages", () => {
  it("never contain the token or a claim value", () => {
    const token = signedToken(key, { payload: accessClaims({ iss: "https://evil.example.test" }) });
    try {
      verify(token);
      expect.unreachable();
    } catch (error) {
      const message = (error as Error).message;
      expect(message).not.toContain(token.slice(0, 20));
      expect(message).not.toContain("evil");
      expect(JSON.stringify(error)).not.toContain("evil");
    }
  });
});
