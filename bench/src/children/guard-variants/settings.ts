import { createKeySet, importHs256Secret, importKey, type KeySource } from "@sello/core/node";
import { AUDIENCE, ISSUER } from "../../fixtures.js";

/** The protected route that every guard-overhead server serves. */
export const RESOURCE_PATH = "/api/resource";
/** The body of every 200 response, the same for every server so that only the guard differs. */
export const RESOURCE_BODY = { ok: true } as const;

/** Settings that the runner passes to a guard-overhead server. */
export interface VariantSettings {
  alg: "HS256" | "ES256";
  /** The HS256 secret. */
  secret?: Buffer;
  /** The ES256 public key, SPKI PEM. */
  publicPem?: string;
}

/** A server listening on 127.0.0.1. */
export interface BenchServer {
  port: number;
  close(): Promise<void>;
}

export type StartServer = (settings: VariantSettings) => Promise<BenchServer>;

export const EXPECTED_ISSUER = ISSUER;
export const EXPECTED_AUDIENCE = AUDIENCE;

/** Builds a Sello key source from the verification key. */
export function selloKeySource(settings: VariantSettings): KeySource {
  if (settings.alg === "HS256") {
    return createKeySet([importHs256Secret(requireSecret(settings))]);
  }
  return createKeySet([importKey(requirePublicPem(settings), "ES256")]);
}

export function requireSecret(settings: VariantSettings): Buffer {
  if (settings.secret === undefined) {
    throw new Error("The HS256 server needs the secret.");
  }
  return settings.secret;
}

export function requirePublicPem(settings: VariantSettings): string {
  if (settings.publicPem === undefined) {
    throw new Error("The ES256 server needs the public key.");
  }
  return settings.publicPem;
}
