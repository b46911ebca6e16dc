import type { AccessTokenClaims, Algorithm } from "@sello/core";

/** The `iss` of every benchmark token. Only a claim value: no request goes to this URL. */
export const ISSUER = "https://auth.example.test";
/** The `aud` of every benchmark token. */
export const AUDIENCE = "https://api.example.test";
export const CLIENT_ID = "sello-web";
export const SUBJECT = "3f6c2a4e-8d1b-4c7a-9e2f-5b0d6a1c7e93";
export const SESSION_ID = "9a1e7c52-6b3d-4f08-8c2a-1d5e9b7f3a60";
export const ROLES = ["editor", "viewer"] as const;
export const PERMISSIONS = ["articles:read", "articles:write", "comments:moderate"] as const;

/** The algorithms the token benchmark compares. */
export const TOKEN_ALGORITHMS = [
  "HS256",
  "ES256",
  "EdDSA",
  "RS256",
] as const satisfies readonly Algorithm[];
export type TokenAlgorithm = (typeof TOKEN_ALGORITHMS)[number];

/** The access-token lifetime of benchmark tokens, in seconds: long enough for any run. */
export const TOKEN_TTL_SECONDS = 3600;

/**
 * Builds an RFC 9068 access-token payload with roles and permissions, with its members in the order the
 * Sello issuer writes them, so every library signs a payload of the same length.
 */
export function accessTokenPayload(
  nowSeconds: number,
  jti = "Qm9keS1iZW5jaC10b2tlbi0x",
): AccessTokenClaims {
  return {
    iss: ISSUER,
    sub: SUBJECT,
    aud: AUDIENCE,
    exp: nowSeconds + TOKEN_TTL_SECONDS,
    iat: nowSeconds,
    jti,
    client_id: CLIENT_ID,
    roles: [...ROLES],
    permissions: [...PERMISSIONS],
    sid: SESSION_ID,
  };
}
