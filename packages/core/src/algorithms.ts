/** The JWS algorithms Sello signs and verifies with (RFC 7518, RFC 8037). */
export const ALGORITHMS = ["ES256", "EdDSA", "RS256", "PS256", "HS256"] as const;

export type Algorithm = (typeof ALGORITHMS)[number];

/** The asymmetric algorithms, whose public keys can be published in a JWKS. */
export const ASYMMETRIC_ALGORITHMS = ["ES256", "EdDSA", "RS256", "PS256"] as const;

/** The default signing algorithm. */
export const DEFAULT_ALGORITHM: Algorithm = "ES256";

export function isAlgorithm(value: unknown): value is Algorithm {
  return typeof value === "string" && (ALGORITHMS as readonly string[]).includes(value);
}
