import type { FastifyInstance } from "fastify";
import { routeDoc } from "../http/route-docs.js";
import type { KeyManager } from "../key-manager.js";

export interface WellKnownOptions {
  keys: Pick<KeyManager, "publicJwks">;
  publicUrl: string;
  algorithm: string;
  registrationOpen: boolean;
  /** Seconds for which resource servers may cache the JWKS. */
  jwksMaxAge: number;
}

/** Registers the JWKS (RFC 7517) and the authorization server metadata (RFC 8414). */
export async function wellKnownRoutes(
  app: FastifyInstance,
  options: WellKnownOptions,
): Promise<void> {
  const jwksDoc = routeDoc(
    "discovery",
    "Public signing keys",
    "The JSON Web Key Set (RFC 7517) of the keys that verify access tokens, without private members. Empty in HS256 mode.",
  );
  app.get("/.well-known/jwks.json", { schema: jwksDoc }, async (_request, reply) => {
    reply.header("cache-control", `public, max-age=${options.jwksMaxAge}`);
    reply.type("application/jwk-set+json");
    return options.keys.publicJwks();
  });

  const metadataDoc = routeDoc(
    "discovery",
    "Server metadata",
    "RFC 8414 authorization server metadata: the issuer, the JWKS URL, the revocation endpoint and the Sello endpoints.",
  );
  app.get(
    "/.well-known/oauth-authorization-server",
    { schema: metadataDoc },
    async (_request, reply) => {
      reply.header("cache-control", "public, max-age=3600");
      const base = options.publicUrl;
      return {
        issuer: base,
        jwks_uri: `${base}/.well-known/jwks.json`,
        revocation_endpoint: `${base}/auth/revoke`,
        revocation_endpoint_auth_methods_supported: ["none"],
        // Sello issues tokens through its own login and refresh endpoints, not the OAuth
        // authorization or token endpoints, so it supports no OAuth response type.
        response_types_supported: [],
        sello_login_endpoint: `${base}/auth/login`,
        sello_refresh_endpoint: `${base}/auth/refresh`,
        sello_logout_endpoint: `${base}/auth/logout`,
        sello_userinfo_endpoint: `${base}/auth/me`,
        ...(options.registrationOpen
          ? { sello_registration_endpoint: `${base}/auth/register` }
          : {}),
        sello_access_token_signing_alg_values_supported: [options.algorithm],
      };
    },
  );
}
