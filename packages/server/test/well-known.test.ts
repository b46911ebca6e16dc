import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeClaims, decodeHeader, getMe, loginForTokens, request } from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

const PASSWORD = "correct horse battery";

/** JWK members that hold private key material (RFC 7518 section 6). */
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

interface Jwks {
  keys: Record<string, unknown>[];
}

describe.each([
  { algorithm: "ES256", kty: "EC", crv: "P-256" },
  { algorithm: "EdDSA", kty: "OKP", crv: "Ed25519" },
  { algorithm: "RS256", kty: "RSA", crv: undefined },
  { algorithm: "PS256", kty: "RSA", crv: undefined },
])("JWKS with $algorithm", ({ algorithm, kty, crv }) => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer({ SELLO_ALGORITHM: algorithm });
    await addUser(running, "alice", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  it("publishes one public key", async () => {
    const response = await request<Jwks>(`${running.url}/.well-known/jwks.json`);

    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/jwk-set\+json/);
    expect(response.headers.get("cache-control")).toBe("public, max-age=300");
    expect(response.body.keys).toHaveLength(1);
    const key = response.body.keys[0] as Record<string, unknown>;
    expect(key).toMatchObject({ kty, alg: algorithm, use: "sig", kid: expect.any(String) });
    expect(key.crv).toBe(crv);
  });

  it("publishes no private members", async () => {
    const response = await request<Jwks>(`${running.url}/.well-known/jwks.json`);

    for (const key of response.body.keys) {
      for (const member of PRIVATE_MEMBERS) {
        expect(key).not.toHaveProperty(member);
      }
    }
  });

  it("signs access tokens with it", async () => {
    const jwks = await request<Jwks>(`${running.url}/.well-known/jwks.json`);
    const { accessToken } = await loginForTokens(running.url, "alice", PASSWORD);

    expect(decodeHeader(accessToken)).toMatchObject({
      alg: algorithm,
      kid: jwks.body.keys[0]?.kid,
    });
    expect((await getMe(running.url, accessToken)).status).toBe(200);
  });
});

describe("HS256 mode", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer({
      SELLO_ALGORITHM: "HS256",
      SELLO_HS256_SECRET: randomBytes(48).toString("base64url"),
    });
    await addUser(running, "alice", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  it("publishes no key", async () => {
    const response = await request<Jwks>(`${running.url}/.well-known/jwks.json`);

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ keys: [] });
  });

  it("signs and verifies tokens", async () => {
    const { accessToken } = await loginForTokens(running.url, "alice", PASSWORD);

    expect(decodeHeader(accessToken).alg).toBe("HS256");
    expect((await getMe(running.url, accessToken)).status).toBe(200);
  });

  it("metadata names HS256", async () => {
    const response = await request(`${running.url}/.well-known/oauth-authorization-server`);

    expect(response.body.sello_access_token_signing_alg_values_supported).toEqual(["HS256"]);
  });
});

describe("weak HS256 secret", () => {
  it("placeholder secret stops the start", async () => {
    const start = startServer({
      SELLO_ALGORITHM: "HS256",
      SELLO_HS256_SECRET: "changeme".repeat(6),
    });

    await expect(start).rejects.toThrow(/^Invalid HS256 secret: .*well-known placeholder/);
  });

  it("short secret stops the start", async () => {
    const start = startServer({ SELLO_ALGORITHM: "HS256", SELLO_HS256_SECRET: "tiny-secret" });

    await expect(start).rejects.toThrow(/at least 32 bytes/);
  });
});

describe("authorization server metadata", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer();
    await addUser(running, "alice", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  it("describes this server", async () => {
    const base = running.server.config.publicUrl;

    const response = await request(`${running.url}/.well-known/oauth-authorization-server`);

    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(response.body).toMatchObject({
      issuer: base,
      jwks_uri: `${base}/.well-known/jwks.json`,
      revocation_endpoint: `${base}/auth/revoke`,
      revocation_endpoint_auth_methods_supported: ["none"],
      response_types_supported: [],
      sello_access_token_signing_alg_values_supported: ["ES256"],
    });
    expect(response.body).not.toHaveProperty("sello_registration_endpoint");
  });

  it("issuer matches token iss", async () => {
    const metadata = await request(`${running.url}/.well-known/oauth-authorization-server`);
    const { accessToken } = await loginForTokens(running.url, "alice", PASSWORD);

    expect(decodeClaims(accessToken).iss).toBe(metadata.body.issuer);
  });

  it("published URLs answer", async () => {
    const metadata = await request<Record<string, string>>(
      `${running.url}/.well-known/oauth-authorization-server`,
    );
    const jwksPath = new URL(metadata.body.jwks_uri as string).pathname;

    expect((await request(`${running.url}${jwksPath}`)).status).toBe(200);
  });
});

describe("metadata behind a TLS proxy", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer({
      SELLO_MODE: "production",
      SELLO_PUBLIC_URL: "https://auth.example.test",
      SELLO_TRUST_PROXY: "loopback",
      SELLO_REGISTRATION: "open",
    });
  });

  afterAll(async () => {
    await running.stop();
  });

  it("uses the public https URL", async () => {
    const response = await request(`${running.url}/.well-known/oauth-authorization-server`);

    expect(response.body).toMatchObject({
      issuer: "https://auth.example.test",
      jwks_uri: "https://auth.example.test/.well-known/jwks.json",
      revocation_endpoint: "https://auth.example.test/auth/revoke",
      sello_registration_endpoint: "https://auth.example.test/auth/register",
    });
  });
});
