import { constants, createHmac, type KeyObject, sign } from "node:crypto";
import type { SelloKey } from "./types.js";

/** A function that computes the base64url JWS signature of a signing input (`header.payload`). */
export type JwsSigner = (signingInput: string) => string;

/**
 * Signs a compact JWS: base64url(JSON header) "." base64url(JSON payload) "." signature.
 * The header's `alg` defaults to the key's algorithm, and a different `alg` is a TypeError.
 * Other header members, such as `kid` and `typ`, are written as given.
 * Throws a TypeError for a verify-only key.
 */
export function signJws(
  key: SelloKey,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  if (header.alg !== undefined && header.alg !== key.alg) {
    throw new TypeError(
      `The JWS header alg ${JSON.stringify(header.alg)} does not match the key algorithm ${key.alg}.`,
    );
  }
  const fullHeader: Record<string, unknown> = { alg: key.alg, ...header };
  fullHeader.alg = key.alg;

  const signer = createJwsSigner(key);
  const signingInput = `${encodeJson(fullHeader)}.${encodeJson(payload)}`;
  return `${signingInput}.${signer(signingInput)}`;
}

/**
 * Creates a function that signs JWS signing inputs with `key` through node:crypto: ECDSA P-256
 * with SHA-256 and IEEE P1363 (r || s) signatures for ES256, Ed25519 for EdDSA, RSASSA-PKCS1-v1_5
 * with SHA-256 for RS256, RSASSA-PSS with SHA-256 and a 32-byte salt for PS256, and HMAC-SHA-256
 * for HS256. Throws a TypeError for a verify-only key or a key object of the wrong type.
 */
export function createJwsSigner(key: SelloKey): JwsSigner {
  const signKey = key.signKey;
  if (signKey === undefined) {
    throw new TypeError(`Key ${JSON.stringify(key.kid)} is verify-only, so it cannot sign.`);
  }

  const expectedType = key.alg === "HS256" ? "secret" : "private";
  if (signKey.type !== expectedType) {
    throw new TypeError(
      `Key ${JSON.stringify(key.kid)} is ${key.alg} but its signKey is a ${signKey.type} key, not a ${expectedType} key.`,
    );
  }

  switch (key.alg) {
    case "HS256":
      return (signingInput) =>
        createHmac("sha256", signKey).update(signingInput).digest("base64url");
    case "ES256":
      return createAsymmetricSigner("sha256", { key: signKey, dsaEncoding: "ieee-p1363" });
    case "EdDSA":
      return createAsymmetricSigner(null, signKey);
    case "RS256":
      return createAsymmetricSigner("sha256", signKey);
    case "PS256":
      return createAsymmetricSigner("sha256", {
        key: signKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      });
  }
}

/** Encodes a value as base64url(UTF-8 JSON), the form of a JWS header or payload. */
export function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

type SignKeyInput =
  | KeyObject
  | { key: KeyObject; dsaEncoding?: "ieee-p1363"; padding?: number; saltLength?: number };

function createAsymmetricSigner(digest: "sha256" | null, signKeyInput: SignKeyInput): JwsSigner {
  return (signingInput) =>
    sign(digest, Buffer.from(signingInput, "utf8"), signKeyInput).toString("base64url");
}
