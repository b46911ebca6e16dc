// Verifies the example JWSs that RFC 7515 (appendix A.1 to A.3) and RFC 8037 (appendix A.4)
// publish, with keys imported from the JWKs printed in the same appendices.
//
// The examples are not access tokens: they carry no `typ` "at+jwt" (A.1 has "JWT", the others
// none), no `aud`, `sub` or `jti`, and the RFC 8037 payload is not JSON. So they are checked with
// createJwsVerifier, which applies the header rules, the key lookup and the signature check, and
// where the payload is JSON, with an explicit `exp` check against a frozen clock. A test below
// shows that createVerifier rejects them as access tokens.
//
// All four examples pass Sello's strict rules as published:
// - A.1's header and payload contain CRLF and a space between members. RFC 7515 section 3 allows
//   such whitespace around JSON values, and JSON.parse accepts it, so the strict parser does too.
//   The base64url segments are canonical (their unused low bits are zero), so the encoding rules
//   accept them as well.
// - A.2's RSA modulus has 2048 bits, the minimum that importKey allows.
// - A.3's R and S both lie in [1, n - 1], so the P-256 scalar check passes.
// - A.4's payload is the ASCII text "Example of Ed25519 signing". createJwsVerifier never parses
//   the payload, so it verifies, and it has no `exp` to check.

import { createECDH, createPrivateKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { SelloError } from "../src/errors.js";
import { isCanonicalBase64url } from "../src/node/base64url.js";
import { createJwsVerifier } from "../src/node/jws.js";
import { createKeySet } from "../src/node/key-set.js";
import { importKey, type JWK, PRIVATE_JWK_MEMBERS } from "../src/node/keys.js";
import { createJwsSigner } from "../src/node/sign.js";
import type { SelloKey } from "../src/node/types.js";
import { createVerifier } from "../src/node/verifier.js";
import {
  RFC7515_A1,
  RFC7515_A2,
  RFC7515_A3,
  RFC7515_EXP,
  RFC8037_A3_THUMBPRINT,
  RFC8037_A4,
  RFC8037_A4_PAYLOAD,
  type RfcJwsExample,
} from "./fixtures/rfc-jws-examples.js";

/** A time one minute before the examples' `exp`, in milliseconds since the epoch. */
const FROZEN_NOW_MS = (RFC7515_EXP - 60) * 1000;

const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const EXAMPLES: readonly RfcJwsExample[] = [RFC7515_A1, RFC7515_A2, RFC7515_A3, RFC8037_A4];
const JSON_PAYLOAD_EXAMPLES: readonly RfcJwsExample[] = [RFC7515_A1, RFC7515_A2, RFC7515_A3];

function compact(example: RfcJwsExample): string {
  return `${example.encodedHeader}.${example.encodedPayload}.${example.encodedSignature}`;
}

/** Copies the JWK without its private members, as a JWKS publishes it. HS256 keeps its `k`. */
function publicMembers(jwk: JWK): JWK {
  if (jwk.kty === "oct") {
    return { ...jwk };
  }
  const copy: JWK = { ...jwk };
  for (const member of PRIVATE_JWK_MEMBERS) {
    delete copy[member];
  }
  return copy;
}

function importVerifyKey(example: RfcJwsExample): SelloKey {
  return importKey(publicMembers(example.jwk), example.alg);
}

function verifierFor(example: RfcJwsExample) {
  return createJwsVerifier({
    algorithms: [example.alg],
    keys: createKeySet([importVerifyKey(example)]),
  });
}

/**
 * Reports whether `nowMs` is before the payload's `exp`, the instant from which a JWT must be
 * rejected. The examples have no `nbf` or `iat` and give no clock skew, so none is allowed.
 */
function isUnexpired(payload: Buffer, nowMs: number): boolean {
  const claims = JSON.parse(payload.toString("utf8")) as { exp?: unknown };
  if (typeof claims.exp !== "number") {
    throw new Error("The example payload has no numeric exp claim.");
  }
  return Math.floor(nowMs / 1000) < claims.exp;
}

/** Replaces the character at `index` by its neighbour in the alphabet (the low bit flipped). */
function flipCharacter(text: string, index: number): string {
  const value = BASE64URL_ALPHABET.indexOf(text.charAt(index));
  expect(value).toBeGreaterThanOrEqual(0);
  const replacement = BASE64URL_ALPHABET.charAt(value ^ 1);
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

function captureError(action: () => unknown): SelloError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(SelloError);
    return error as SelloError;
  }
  throw new Error("Expected the call to throw a SelloError, but it returned.");
}

/** Decodes an unpadded base64url JWK member into a big-endian unsigned integer. */
function toBigInt(member: string | undefined): bigint {
  if (member === undefined) {
    throw new Error("The JWK member is missing.");
  }
  return BigInt(`0x${Buffer.from(member, "base64url").toString("hex")}`);
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let factor = base % modulus;
  let remaining = exponent;
  while (remaining > 0n) {
    if (remaining & 1n) {
      result = (result * factor) % modulus;
    }
    factor = (factor * factor) % modulus;
    remaining >>= 1n;
  }
  return result;
}

describe.each(EXAMPLES)("$source", (example) => {
  it("base64url values match listed octets", () => {
    // Each value is checked against the second copy that the RFC prints, so a wrong character
    // in either copy fails here.
    const signingInput = `${example.encodedHeader}.${example.encodedPayload}`;
    if (example.headerOctets !== undefined) {
      expect(Buffer.from(example.encodedHeader, "base64url")).toEqual(
        Buffer.from(example.headerOctets),
      );
    }
    if (example.payloadOctets !== undefined) {
      expect(Buffer.from(example.encodedPayload, "base64url")).toEqual(
        Buffer.from(example.payloadOctets),
      );
    }
    if (example.signingInputOctets !== undefined) {
      expect(Buffer.from(signingInput, "latin1")).toEqual(Buffer.from(example.signingInputOctets));
    }
    if (example.signatureOctets !== undefined) {
      expect(Buffer.from(example.encodedSignature, "base64url")).toEqual(
        Buffer.from(example.signatureOctets),
      );
    }
  });

  it("values are canonical base64url", () => {
    // Non-canonical text, such as a last character whose unused bits are set, decodes to the
    // same bytes. This check makes every character count, not only every byte.
    const values: Record<string, string> = {
      encodedHeader: example.encodedHeader,
      encodedPayload: example.encodedPayload,
      encodedSignature: example.encodedSignature,
    };
    for (const [member, value] of Object.entries(example.jwk)) {
      if (member !== "kty" && member !== "crv") {
        values[`jwk.${member}`] = value as string;
      }
    }

    for (const [name, value] of Object.entries(values)) {
      expect(isCanonicalBase64url(value), name).toBe(true);
      expect(Buffer.from(value, "base64url").toString("base64url"), name).toBe(value);
    }
  });

  it("verifies with createJwsVerifier", () => {
    const key = importVerifyKey(example);
    const verify = createJwsVerifier({ algorithms: [example.alg], keys: createKeySet([key]) });

    const verified = verify(compact(example));

    expect(verified.key).toBe(key);
    expect(verified.header.alg).toBe(example.alg);
    expect(verified.header.kid).toBeUndefined();
    expect(verified.payload).toEqual(Buffer.from(example.encodedPayload, "base64url"));
  });

  it("rejects one flipped signature character", () => {
    const verify = verifierFor(example);
    // A character in the middle keeps the segment canonical and, for ES256, keeps R and S in
    // range, so the only rule left to fail is the signature itself.
    const signature = flipCharacter(
      example.encodedSignature,
      Math.floor(example.encodedSignature.length / 2),
    );
    const token = `${example.encodedHeader}.${example.encodedPayload}.${signature}`;

    const error = captureError(() => verify(token));

    expect(error.code).toBe("invalid_token");
    expect(error.reason).toBe("signature_invalid");
  });

  it("rejects one flipped payload character", () => {
    const verify = verifierFor(example);
    const payload = flipCharacter(example.encodedPayload, 10);
    const token = `${example.encodedHeader}.${payload}.${example.encodedSignature}`;

    const error = captureError(() => verify(token));

    expect(error.code).toBe("invalid_token");
    expect(error.reason).toBe("signature_invalid");
  });

  it("rejects another algorithm allowlist", () => {
    const verify = createJwsVerifier({
      algorithms: [example.alg === "ES256" ? "EdDSA" : "ES256"],
      keys: createKeySet([importVerifyKey(example)]),
    });

    const error = captureError(() => verify(compact(example)));

    expect(error.reason).toBe("alg_not_allowed");
  });

  it("private JWK imports to the same kid", () => {
    const privateKey = importKey(example.jwk, example.alg);

    expect(privateKey.signKey).toBeDefined();
    expect(privateKey.kid).toBe(importVerifyKey(example).kid);
  });
});

describe.each(JSON_PAYLOAD_EXAMPLES)("$source exp", (example) => {
  it("passes before exp on frozen clock", () => {
    const verified = verifierFor(example)(compact(example));

    expect(isUnexpired(verified.payload, FROZEN_NOW_MS)).toBe(true);
  });

  it("fails at exp on frozen clock", () => {
    const verified = verifierFor(example)(compact(example));

    expect(isUnexpired(verified.payload, RFC7515_EXP * 1000)).toBe(false);
    expect(isUnexpired(verified.payload, (RFC7515_EXP + 1) * 1000)).toBe(false);
  });

  it("payload claims match the RFC", () => {
    const verified = verifierFor(example)(compact(example));

    expect(JSON.parse(verified.payload.toString("utf8"))).toEqual({
      iss: "joe",
      exp: RFC7515_EXP,
      "http://example.com/is_root": true,
    });
  });
});

describe("RFC 7515 appendix A.1 header", () => {
  it("keeps typ JWT and CRLF whitespace", () => {
    const verified = verifierFor(RFC7515_A1)(compact(RFC7515_A1));

    expect(verified.header).toEqual({ typ: "JWT", alg: "HS256" });
    expect(Buffer.from(RFC7515_A1.encodedHeader, "base64url").toString("latin1")).toBe(
      '{"typ":"JWT",\r\n "alg":"HS256"}',
    );
  });
});

describe("Sello signer on RFC keys", () => {
  // HMAC, RSASSA-PKCS1-v1_5 and Ed25519 are deterministic, so signing the example's signing
  // input with the RFC's private key must give the RFC's signature byte for byte.
  it.each([RFC7515_A1, RFC7515_A2, RFC8037_A4])("$source signature is reproduced", (example) => {
    const signer = createJwsSigner(importKey(example.jwk, example.alg));

    expect(signer(`${example.encodedHeader}.${example.encodedPayload}`)).toBe(
      example.encodedSignature,
    );
  });

  // ECDSA signatures are randomised, so the A.3 private key is checked by a round trip instead.
  it("RFC 7515 appendix A.3 key signs verifiably", () => {
    const signer = createJwsSigner(importKey(RFC7515_A3.jwk, "ES256"));
    const signingInput = `${RFC7515_A3.encodedHeader}.${RFC7515_A3.encodedPayload}`;
    const token = `${signingInput}.${signer(signingInput)}`;

    const verified = verifierFor(RFC7515_A3)(token);

    expect(verified.payload).toEqual(Buffer.from(RFC7515_A3.encodedPayload, "base64url"));
  });
});

describe("RFC private keys", () => {
  it("RFC 7515 A.2 RSA members are consistent", () => {
    const { jwk } = RFC7515_A2;
    const n = toBigInt(jwk.n);
    const e = toBigInt(jwk.e);
    const d = toBigInt(jwk.d);
    const p = toBigInt(jwk.p);
    const q = toBigInt(jwk.q);

    expect(n.toString(2)).toHaveLength(2048);
    expect(p * q).toBe(n);
    expect(toBigInt(jwk.dp)).toBe(d % (p - 1n));
    expect(toBigInt(jwk.dq)).toBe(d % (q - 1n));
    expect((toBigInt(jwk.qi) * q) % p).toBe(1n);
    // d inverts e: m^(e*d) = m mod n for a sample message m.
    expect(modPow(modPow(42n, e, n), d, n)).toBe(42n);
  });

  it("RFC 7515 A.3 d matches x and y", () => {
    const { jwk } = RFC7515_A3;
    const ecdh = createECDH("prime256v1");
    ecdh.setPrivateKey(Buffer.from(jwk.d as string, "base64url"));

    const expected = Buffer.concat([
      Buffer.from([0x04]),
      Buffer.from(jwk.x as string, "base64url"),
      Buffer.from(jwk.y as string, "base64url"),
    ]);
    expect(ecdh.getPublicKey()).toEqual(expected);
  });

  it("RFC 8037 A.1 d matches x", () => {
    const { jwk } = RFC8037_A4;
    // This PKCS#8 Ed25519 key holds only the 32-byte seed d, so Node derives the public key
    // from d alone, and its x must equal the RFC's.
    const pkcs8Prefix = Buffer.from("302e020100300506032b657004220420", "hex");
    const derived = createPrivateKey({
      key: Buffer.concat([pkcs8Prefix, Buffer.from(jwk.d as string, "base64url")]),
      format: "der",
      type: "pkcs8",
    });

    expect(derived.export({ format: "jwk" }).x).toBe(jwk.x);
  });

  it("RFC 8037 kid is the A.3 thumbprint", () => {
    // Sello's kid is the RFC 7638 thumbprint, which RFC 8037 appendix A.3 computes for this key.
    expect(importVerifyKey(RFC8037_A4).kid).toBe(RFC8037_A3_THUMBPRINT);
  });

  it("RFC 8037 A.4 payload is the ASCII text", () => {
    const verified = verifierFor(RFC8037_A4)(compact(RFC8037_A4));

    expect(verified.payload.toString("latin1")).toBe(RFC8037_A4_PAYLOAD);
  });
});

describe("createVerifier on RFC examples", () => {
  // The examples are valid JWSs but not RFC 9068 access tokens, so the access-token verifier
  // must reject them. It checks `typ` first among the claim rules.
  it.each(JSON_PAYLOAD_EXAMPLES)("$source is no access token", (example) => {
    const verify = createVerifier({
      algorithms: [example.alg],
      keys: createKeySet([importVerifyKey(example)]),
      issuer: "joe",
      audience: "https://api.example.com",
      clock: () => FROZEN_NOW_MS,
    });

    const error = captureError(() => verify(compact(example)));

    expect(error.code).toBe("invalid_token");
    expect(error.reason).toBe("typ_invalid");
  });
});
