/**
 * The claims of a Sello access token: the JWT profile of RFC 9068 plus the session id and the
 * caller's roles and permissions.
 */
export interface AccessTokenClaims {
  /** Issuer: the auth server's public URL. */
  iss: string;
  /** Subject: the user id. */
  sub: string;
  /** Audience: the resource servers the token is meant for. */
  aud: string | string[];
  /** Expiry, in seconds since the epoch. */
  exp: number;
  /** Issue time, in seconds since the epoch. */
  iat: number;
  /** Not-before time, in seconds since the epoch; Sello-issued tokens omit it. */
  nbf?: number;
  /** Unique token id, used for revocation. */
  jti: string;
  /** The client the token was issued to. */
  client_id: string;
  /** Session id: the refresh-token family the token belongs to. */
  sid?: string;
  roles: string[];
  permissions: string[];
  [claim: string]: unknown;
}

/** The media type of an access token header, as RFC 9068 section 2.1 requires. */
export const ACCESS_TOKEN_TYPE = "at+jwt";
