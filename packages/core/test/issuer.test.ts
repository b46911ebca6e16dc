import {
  constants,
  createHmac,
  generateKeyPairSync,
  type KeyObject,
  timingSafeEqual,
  verify,
} from "node:crypto";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ALGORITHMS, type Algorithm } from "../src/algorithms.js";
import { SelloError } from "../src/errors.js";
import {
  createAccessTokenIssuer,
  type IssueRequest,
  type IssuerOptions,
} from "../src/node/issuer.js";
import { KeyRing } from "../src/node/key-ring.js";
import { exportPrivateJwk, exportPublicJwk, generateKey, importKey } from "../src/node/keys.js";
import { createJwsSigner, signJws } from "../src/node/sign.js";
import type { SelloKey } from "../src/node/types.js";

// jose is the reference JWT implementation. It is loaded by a computed name so that this file
// still compiles and runs where jose is not installed.
// NOTE: without jose the cross-checks below are skipped, and tokens are checked with
// node:crypto only.
interface JoseJwt {
  importJWK(jwk: object, alg?: string): Promise<unknown>;
  jwtVerify(
    token: string,
    key: unknown,
    options: {
      issuer?: string;
      audience?: string | string[];
      algorithms?: string[];
      typ?: string;
      currentDate?: Date;
    },
  ): Promise<{ payload: Record<string, unknown>; protectedHeader: Record<string, unknown> }>;
}
const JOSE_MODULE = "jose";
const jose = (await import(JOSE_MODULE).catch(() => undefined)) as JoseJwt | undefined;

const NOW = Date.UTC(2025, 5, 1, 12, 0, 0, 789);
const NOW_SECONDS = Math.floor(NOW / 1000);
const ISSUER = "https://auth.example.com";

const keys = {} as Record<Algorithm, SelloKey>;

beforeAll(() => {
  for (const alg of ALGORITHMS) {
    keys[alg] = generateKey(alg);
  }
});

function issuerFor(key: SelloKey, overrides: Partial<IssuerOptions> = {}) {
  return createAccessTokenIssuer({
    issuer: ISSUER,
    audience: "https://api.example.com",
    keys: { getSigningKey: () => key },
    clientId: "web",
    clock: () => NOW,
    ...overrides,
  });
}

function decodePart(token: string, index: number): Record<string, unknown> {
  const part = token.split(".")[index] as string;
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

/** Verifies a compact JWS with raw node:crypto, independently of sign.ts. */
function verifyWithNode(token: string, key: SelloKey): boolean {
  const parts = token.split(".");
  expect(parts).toHaveLength(3);
  const input = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2] as string, "base64url");

  switch (key.alg) {
    case "ES256":
      return verify("sha256", input, { key: key.verifyKey, dsaEncoding: "ieee-p1363" }, signature);
    case "EdDSA":
      return verify(null, input, key.verifyKey, signature);
    case "RS256":
      return verify("sha256", input, key.verifyKey, signature);
    case "PS256":
      return verify(
        "sha256",
        input,
        { key: key.verifyKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
        signature,
      );
    case "HS256": {
      const expected = createHmac("sha256", key.verifyKey).update(input).digest();
      return expected.length === signature.length && timingSafeEqual(expected, signature);
    }
  }
}

async function joseKeyFor(key: SelloKey): Promise<unknown> {
  const jwk = key.alg === "HS256" ? exportPrivateJwk(key) : exportPublicJwk(key);
  return (jose as JoseJwt).importJWK(jwk, key.alg);
}

function expectTypeError(action: () => unknown, pattern: RegExp): void {
  expect(action).toThrow(TypeError);
  expect(action).toThrow(pattern);
}

describe("signJws", () => {
  it.each(ALGORITHMS)("%s signature verifies with node:crypto", (alg) => {
    const token = signJws(keys[alg], { typ: "JWT", kid: keys[alg].kid }, { sub: "user-1", n: 5 });
    expect(verifyWithNode(token, keys[alg])).toBe(true);
    expect(decodePart(token, 0)).toEqual({ alg, typ: "JWT", kid: keys[alg].kid });
    expect(decodePart(token, 1)).toEqual({ sub: "user-1", n: 5 });
  });

  it("signature lengths match algorithm", () => {
    const lengths: Record<Algorithm, number> = {
      ES256: 64,
      EdDSA: 64,
      RS256: 384,
      PS256: 384,
      HS256: 32,
    };
    for (const alg of ALGORITHMS) {
      const signature = signJws(keys[alg], {}, {}).split(".")[2] as string;
      expect(Buffer.from(signature, "base64url"), alg).toHaveLength(lengths[alg]);
    }
  });

  it("PS256 uses 32-byte salt", () => {
    const token = signJws(keys.PS256, {}, { sub: "x" });
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const input = Buffer.from(`${header}.${payload}`);
    const signatureBytes = Buffer.from(signature, "base64url");
    const options = (saltLength: number) => ({
      key: keys.PS256.verifyKey,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength,
    });
    expect(verify("sha256", input, options(32), signatureBytes)).toBe(true);
    expect(verify("sha256", input, options(64), signatureBytes)).toBe(false);
  });

  it("PS256 signatures are randomized", () => {
    expect(signJws(keys.PS256, {}, { sub: "x" })).not.toBe(signJws(keys.PS256, {}, { sub: "x" }));
  });

  it("alg added first when missing", () => {
    const token = signJws(keys.EdDSA, { kid: "k", alg: undefined }, {});
    expect(Object.keys(decodePart(token, 0))).toEqual(["alg", "kid"]);
    expect(decodePart(token, 0).alg).toBe("EdDSA");
  });

  it("mismatched alg rejected", () => {
    expectTypeError(
      () => signJws(keys.ES256, { alg: "none" }, {}),
      /header alg "none" does not match the key algorithm ES256/,
    );
    expectTypeError(() => signJws(keys.HS256, { alg: "RS256" }, {}), /does not match/);
  });

  it("verify-only key rejected", () => {
    const publicOnly = importKey(keys.ES256.verifyKey, "ES256");
    expectTypeError(() => signJws(publicOnly, {}, {}), /verify-only, so it cannot sign/);
  });

  it("mismatched key object rejected", () => {
    const forged: SelloKey = { ...keys.HS256, signKey: keys.ES256.signKey as KeyObject };
    expectTypeError(
      () => createJwsSigner(forged),
      /HS256 but its signKey is a private key, not a secret key/,
    );
    const other: SelloKey = { ...keys.ES256, signKey: keys.HS256.signKey as KeyObject };
    expectTypeError(() => createJwsSigner(other), /not a private key/);
  });

  it("non-ASCII payload round trips", () => {
    const token = signJws(keys.EdDSA, {}, { name: "Zoë 🔑", note: "日本" });
    expect(verifyWithNode(token, keys.EdDSA)).toBe(true);
    expect(decodePart(token, 1)).toEqual({ name: "Zoë 🔑", note: "日本" });
  });

  it("arbitrary payloads verify", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })), (payload) => {
        const token = signJws(keys.ES256, {}, payload);
        expect(verifyWithNode(token, keys.ES256)).toBe(true);
        expect(decodePart(token, 1)).toEqual(JSON.parse(JSON.stringify(payload)));
      }),
      { numRuns: 100 },
    );
  });
});

describe("createAccessTokenIssuer output", () => {
  it("header has alg, typ and kid", () => {
    const { token } = issuerFor(keys.ES256)({ subject: "user-1" });
    const header = decodePart(token, 0);
    expect(Object.keys(header)).toEqual(["alg", "typ", "kid"]);
    expect(header).toEqual({ alg: "ES256", typ: "at+jwt", kid: keys.ES256.kid });
  });

  it("claims have exact shape", () => {
    const issued = issuerFor(keys.ES256)({
      subject: "user-1",
      sessionId: "session-9",
      roles: ["admin"],
      permissions: ["posts:read", "posts:write"],
    });

    expect(issued.claims).toEqual({
      iss: ISSUER,
      sub: "user-1",
      aud: "https://api.example.com",
      exp: NOW_SECONDS + 600,
      iat: NOW_SECONDS,
      jti: issued.claims.jti,
      client_id: "web",
      sid: "session-9",
      roles: ["admin"],
      permissions: ["posts:read", "posts:write"],
    });
    expect(decodePart(issued.token, 1)).toEqual(issued.claims);
    expect(issued.expiresIn).toBe(600);
  });

  it("claims order is stable", () => {
    const { claims } = issuerFor(keys.ES256)({ subject: "user-1", sessionId: "s" });
    expect(Object.keys(claims)).toEqual([
      "iss",
      "sub",
      "aud",
      "exp",
      "iat",
      "jti",
      "client_id",
      "roles",
      "permissions",
      "sid",
    ]);
  });

  it("sid omitted without session", () => {
    const { claims, token } = issuerFor(keys.ES256)({ subject: "user-1" });
    expect(claims).not.toHaveProperty("sid");
    expect(decodePart(token, 1)).not.toHaveProperty("sid");
    expect(claims).not.toHaveProperty("nbf");
  });

  it("roles and permissions default empty", () => {
    const { claims } = issuerFor(keys.ES256)({ subject: "user-1" });
    expect(claims.roles).toEqual([]);
    expect(claims.permissions).toEqual([]);
  });

  it("jti is 128-bit base64url", () => {
    const { claims } = issuerFor(keys.ES256)({ subject: "user-1" });
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(claims.jti, "base64url")).toHaveLength(16);
  });

  it("jti unique across tokens", () => {
    const issue = issuerFor(keys.HS256);
    const ids = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      ids.add(issue({ subject: "user-1" }).claims.jti);
    }
    expect(ids.size).toBe(2_000);
  });

  it("request clientId overrides default", () => {
    const { claims } = issuerFor(keys.ES256)({ subject: "user-1", clientId: "mobile" });
    expect(claims.client_id).toBe("mobile");
  });

  it("audience array copied", () => {
    const audience = ["api-a", "api-b"];
    const issue = issuerFor(keys.ES256, { audience });
    audience.push("api-c");

    const first = issue({ subject: "user-1" });
    expect(first.claims.aud).toEqual(["api-a", "api-b"]);
    (first.claims.aud as string[]).push("mutated");
    expect(issue({ subject: "user-1" }).claims.aud).toEqual(["api-a", "api-b"]);
  });

  it("request arrays copied", () => {
    const roles = ["admin"];
    const { claims } = issuerFor(keys.ES256)({ subject: "user-1", roles });
    roles.push("root");
    expect(claims.roles).toEqual(["admin"]);
  });
});

describe("createAccessTokenIssuer clock", () => {
  it("iat uses whole seconds", () => {
    const { claims } = issuerFor(keys.ES256, { clock: () => 1_700_000_000_999 })({ subject: "u" });
    expect(claims.iat).toBe(1_700_000_000);
    expect(claims.exp).toBe(1_700_000_600);
  });

  it("clock read on every call", () => {
    let now = NOW;
    const issue = issuerFor(keys.ES256, { clock: () => now });
    const first = issue({ subject: "u" });
    now += 90_000;
    const second = issue({ subject: "u" });
    expect(second.claims.iat - first.claims.iat).toBe(90);
  });

  it("non-finite clock value rejected", () => {
    const issue = issuerFor(keys.ES256, { clock: () => Number.NaN });
    expectTypeError(() => issue({ subject: "u" }), /clock must return a finite number/);
  });

  it("non-function clock rejected", () => {
    expectTypeError(
      () => issuerFor(keys.ES256, { clock: 5 as unknown as () => number }),
      /clock must be a function/,
    );
  });
});

describe("createAccessTokenIssuer ttl", () => {
  it.each([
    [60, 60],
    ["90", 90],
    ["15m", 900],
    ["1h", 3_600],
    ["1d", 86_400],
    [86_400, 86_400],
  ] as const)("ttl %s is %i seconds", (ttl, seconds) => {
    const issued = issuerFor(keys.ES256, { accessTokenTtl: ttl })({ subject: "u" });
    expect(issued.expiresIn).toBe(seconds);
    expect(issued.claims.exp - issued.claims.iat).toBe(seconds);
  });

  it("default is 600 seconds", () => {
    expect(issuerFor(keys.ES256)({ subject: "u" }).expiresIn).toBe(600);
  });

  it.each([
    0,
    "0",
    -1,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    "abc",
    "10 minutes",
    86_401,
    "2d",
    "1w",
    1.5,
    "0.5s",
    "",
  ])("ttl %s rejected", (ttl) => {
    expect(() => issuerFor(keys.ES256, { accessTokenTtl: ttl })).toThrow(TypeError);
    expect(() => issuerFor(keys.ES256, { accessTokenTtl: ttl })).toThrow(/accessTokenTtl/);
  });
});

describe("createAccessTokenIssuer validation", () => {
  it("missing issuer rejected", () => {
    expectTypeError(
      () => issuerFor(keys.ES256, { issuer: "" }),
      /issuer must be a non-empty string; got an empty string/,
    );
    expectTypeError(
      () => issuerFor(keys.ES256, { issuer: undefined as unknown as string }),
      /issuer must be a non-empty string; got undefined/,
    );
  });

  it("invalid audience rejected", () => {
    expectTypeError(
      () => issuerFor(keys.ES256, { audience: [] }),
      /audience must be a non-empty string or a non-empty array/,
    );
    expectTypeError(
      () => issuerFor(keys.ES256, { audience: "" }),
      /audience must be a non-empty string/,
    );
    expectTypeError(
      () => issuerFor(keys.ES256, { audience: ["a", 5 as unknown as string] }),
      /audience must be a non-empty string; got number/,
    );
  });

  it("invalid keys rejected", () => {
    expectTypeError(
      () => issuerFor(keys.ES256, { keys: {} as IssuerOptions["keys"] }),
      /getSigningKey\(\) method/,
    );
  });

  it("invalid default clientId rejected", () => {
    expectTypeError(
      () => issuerFor(keys.ES256, { clientId: "" }),
      /clientId must be a non-empty string/,
    );
  });

  it("missing options rejected", () => {
    expectTypeError(
      () => createAccessTokenIssuer(undefined as unknown as IssuerOptions),
      /needs an options object/,
    );
  });

  it("invalid subject rejected", () => {
    const issue = issuerFor(keys.ES256);
    expectTypeError(() => issue({ subject: "" }), /subject must be a non-empty string/);
    expectTypeError(
      () => issue({} as IssueRequest),
      /subject must be a non-empty string; got undefined/,
    );
    expectTypeError(() => issue(null as unknown as IssueRequest), /request must be an object/);
  });

  it("missing clientId rejected", () => {
    const issue = issuerFor(keys.ES256, { clientId: undefined });
    expectTypeError(() => issue({ subject: "u" }), /clientId is missing/);
    expect(issue({ subject: "u", clientId: "cli" }).claims.client_id).toBe("cli");
  });

  it("invalid roles rejected", () => {
    const issue = issuerFor(keys.ES256);
    expectTypeError(
      () => issue({ subject: "u", roles: "admin" as unknown as string[] }),
      /roles must be an array of strings/,
    );
    expectTypeError(
      () => issue({ subject: "u", permissions: [1] as unknown as string[] }),
      /permissions must contain only strings/,
    );
  });

  it("empty sessionId rejected", () => {
    expectTypeError(
      () => issuerFor(keys.ES256)({ subject: "u", sessionId: "" }),
      /sessionId must be a non-empty string/,
    );
  });
});

describe("createAccessTokenIssuer keys", () => {
  it.each(ALGORITHMS)("%s token verifies with node:crypto", (alg) => {
    const { token } = issuerFor(keys[alg])({ subject: "user-1", roles: ["r"] });
    expect(verifyWithNode(token, keys[alg])).toBe(true);
    expect(decodePart(token, 0).alg).toBe(alg);
  });

  it("tampered token fails verification", () => {
    const { token } = issuerFor(keys.ES256)({ subject: "user-1" });
    const [header, , signature] = token.split(".");
    const forgedPayload = Buffer.from(JSON.stringify({ sub: "admin" })).toString("base64url");
    expect(verifyWithNode(`${header}.${forgedPayload}.${signature}`, keys.ES256)).toBe(false);
  });

  it("rotation changes kid", () => {
    let now = NOW;
    const first = generateKey("ES256");
    const second = generateKey("EdDSA");
    const ring = new KeyRing([{ key: first, state: "current", createdAt: now }], {
      clock: () => now,
    });
    const issue = issuerFor(first, { keys: ring, clock: () => now });

    expect(decodePart(issue({ subject: "u" }).token, 0).kid).toBe(first.kid);

    ring.addNext(second);
    now += 1_000;
    ring.promote(600);
    const rotated = issue({ subject: "u" }).token;

    expect(decodePart(rotated, 0)).toEqual({ alg: "EdDSA", typ: "at+jwt", kid: second.kid });
    expect(verifyWithNode(rotated, second)).toBe(true);
  });

  it("signing key errors propagate", () => {
    const issue = issuerFor(keys.ES256, { keys: new KeyRing() });
    expect(() => issue({ subject: "u" })).toThrow(SelloError);
    expect(() => issue({ subject: "u" })).toThrow(
      expect.objectContaining({ reason: "no_signing_key" }),
    );
  });

  it("2048-bit RSA key signs", () => {
    const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const key = importKey(pair.privateKey, "RS256");
    const { token } = issuerFor(key)({ subject: "u" });
    expect(verifyWithNode(token, key)).toBe(true);
  });

  it.skipIf(jose === undefined).each(ALGORITHMS)("%s token verifies with jose", async (alg) => {
    const issue = issuerFor(keys[alg], {
      audience: ["https://api.example.com", "https://admin.example.com"],
    });
    const { token, claims } = issue({ subject: "user-1", sessionId: "s1", roles: ["admin"] });

    const result = await (jose as JoseJwt).jwtVerify(token, await joseKeyFor(keys[alg]), {
      issuer: ISSUER,
      audience: "https://admin.example.com",
      algorithms: [alg],
      typ: "at+jwt",
      currentDate: new Date(NOW),
    });

    expect(result.protectedHeader).toEqual({ alg, typ: "at+jwt", kid: keys[alg].kid });
    expect(result.payload).toEqual(claims);
  });

  it.skipIf(jose === undefined)("jose rejects token from other key", async () => {
    const { token } = issuerFor(keys.ES256)({ subject: "u" });
    const otherKey = await joseKeyFor(generateKey("ES256"));
    await expect(
      (jose as JoseJwt).jwtVerify(token, otherKey, {
        currentDate: new Date(NOW),
        algorithms: ["ES256"],
      }),
    ).rejects.toThrow();
  });
});
