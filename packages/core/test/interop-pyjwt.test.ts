// Cross-checks Sello's access tokens with PyJWT in both directions, for every algorithm. PyJWT
// verifies tokens that Sello issues, using only the public JWKS (or the shared secret for HS256).
// Sello's createVerifier verifies tokens that PyJWT signs with a private key exported from Sello.
//
// PyJWT runs under /usr/bin/python3 with the Debian packages python3-jwt and
// python3-cryptography, which .ci/run installs. The python3 first on PATH may be another
// interpreter without them, so the path is fixed. Without the packages the suite fails; it is
// never skipped.

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { ALGORITHMS, type Algorithm } from "../src/algorithms.js";
import type { AccessTokenClaims } from "../src/claims.js";
import { SelloError } from "../src/errors.js";
import { createAccessTokenIssuer } from "../src/node/issuer.js";
import { importJwks, type Jwks, toPublicJwks } from "../src/node/jwks.js";
import { createKeySet } from "../src/node/key-set.js";
import { exportPrivateJwk, generateKey, PRIVATE_JWK_MEMBERS } from "../src/node/keys.js";
import type { KeySource, SelloKey } from "../src/node/types.js";
import { createVerifier } from "../src/node/verifier.js";

const PYTHON = "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("./fixtures/pyjwt_interop.py", import.meta.url));

/** The timeout of each Python run, in milliseconds. A run took about 0.1 s on a 2-core machine. */
const PYTHON_TIMEOUT_MS = 20_000;

const ISSUER = "https://auth.example.com";
const AUDIENCE = "https://api.example.com";
const OTHER_AUDIENCE = "https://billing.example.com";

const MISSING_PACKAGES_MESSAGE =
  `${PYTHON} cannot import jwt and cryptography. The PyJWT interoperability tests need the ` +
  "Debian packages python3-jwt and python3-cryptography: run " +
  "`apt-get install -y python3-jwt python3-cryptography` (.ci/run installs them in CI).";

type PyJwtVerifyResult =
  | { ok: true; header: Record<string, unknown>; claims: Record<string, unknown> }
  | { ok: false; error: string; message: string };

/** Runs the PyJWT script with one JSON request and returns its JSON response. */
function runPyJwt<T>(request: Record<string, unknown>): T {
  const result = spawnSync(PYTHON, [SCRIPT], {
    input: JSON.stringify(request),
    encoding: "utf8",
    timeout: PYTHON_TIMEOUT_MS,
  });
  if (result.error !== undefined) {
    throw new Error(`Running ${PYTHON} ${SCRIPT} failed: ${result.error.message}`);
  }
  if (result.status !== 0) {
    throw new Error(
      `${PYTHON} ${SCRIPT} exited with status ${String(result.status)}: ${result.stderr.trim()}`,
    );
  }
  return JSON.parse(result.stdout) as T;
}

function pyJwtVerify(request: {
  token: string;
  algorithm: Algorithm;
  audience: string;
  jwks?: Jwks;
  secret?: string;
}): PyJwtVerifyResult {
  return runPyJwt<PyJwtVerifyResult>({ action: "verify", issuer: ISSUER, ...request });
}

/** Returns the key material PyJWT gets to verify: the public JWKS, or the HS256 secret. */
function verificationMaterial(key: SelloKey): { jwks: Jwks } | { secret: string } {
  if (key.alg === "HS256") {
    return { secret: exportPrivateJwk(key).k as string };
  }
  return { jwks: toPublicJwks([key]) };
}

/** Builds the key source of a resource server: from the public JWKS, or from the secret. */
function resourceServerKeys(key: SelloKey): KeySource {
  if (key.alg === "HS256") {
    return createKeySet([key]);
  }
  return createKeySet(importJwks(toPublicJwks([key]), { algorithms: [key.alg] }));
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

/** Claims as Sello issues them, for PyJWT to sign: iat now, exp in ten minutes. */
function claimsForPyJwt(audience: string): AccessTokenClaims {
  const iat = Math.floor(Date.now() / 1000);
  return {
    iss: ISSUER,
    sub: "user-42",
    aud: audience,
    exp: iat + 600,
    iat,
    jti: "pyjwt-token-1",
    client_id: "python-client",
    sid: "session-7",
    roles: ["editor"],
    permissions: ["posts:write"],
  };
}

const keys = {} as Record<Algorithm, SelloKey>;

beforeAll(() => {
  const probe = spawnSync(PYTHON, ["-c", "import jwt, cryptography"], {
    encoding: "utf8",
    timeout: PYTHON_TIMEOUT_MS,
  });
  if (probe.error !== undefined || probe.status !== 0) {
    const detail = probe.error?.message ?? probe.stderr.trim();
    throw new Error(`${MISSING_PACKAGES_MESSAGE} Python reported: ${detail}`);
  }

  for (const alg of ALGORITHMS) {
    keys[alg] = generateKey(alg);
  }
});

describe("PyJWT installation", () => {
  it("is PyJWT 2.x", () => {
    // The script uses the PyJWT 2 API: decode needs algorithms, and PyJWKSet reads a JWKS.
    const { version } = runPyJwt<{ version: string }>({ action: "version" });

    expect(version).toMatch(/^2\.\d+\.\d+/);
  });
});

describe.each(ALGORITHMS)("%s with PyJWT", (alg) => {
  it("PyJWT verifies Sello token", () => {
    const key = keys[alg];
    const issue = createAccessTokenIssuer({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: { getSigningKey: () => key },
      clientId: "web",
    });
    const issued = issue({
      subject: "user-1",
      sessionId: "session-1",
      roles: ["admin"],
      permissions: ["users:read", "users:write"],
    });
    const material = verificationMaterial(key);
    if ("jwks" in material) {
      const published = JSON.stringify(material.jwks);
      for (const member of PRIVATE_JWK_MEMBERS) {
        expect(published).not.toContain(`"${member}":`);
      }
    }

    const result = pyJwtVerify({
      token: issued.token,
      algorithm: alg,
      audience: AUDIENCE,
      ...material,
    });

    expect(result).toEqual({
      ok: true,
      header: { alg, typ: "at+jwt", kid: key.kid },
      claims: { ...issued.claims },
    });
  });

  it("PyJWT rejects wrong audience", () => {
    const key = keys[alg];
    const issue = createAccessTokenIssuer({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: { getSigningKey: () => key },
      clientId: "web",
    });
    const { token } = issue({ subject: "user-1" });

    const result = pyJwtVerify({
      token,
      algorithm: alg,
      audience: OTHER_AUDIENCE,
      ...verificationMaterial(key),
    });

    expect(result.ok).toBe(false);
    expect(result).toMatchObject({ error: "InvalidAudienceError" });
  });

  it("Sello verifies PyJWT token", () => {
    const key = keys[alg];
    const claims = claimsForPyJwt(AUDIENCE);
    const { token } = runPyJwt<{ token: string }>({
      action: "sign",
      algorithm: alg,
      jwk: exportPrivateJwk(key),
      kid: key.kid,
      claims,
    });
    const verify = createVerifier({
      algorithms: [alg],
      keys: resourceServerKeys(key),
      issuer: ISSUER,
      audience: AUDIENCE,
    });

    const verified = verify(token);

    expect(verified).toEqual(claims);
    const header = JSON.parse(Buffer.from(token.split(".")[0] as string, "base64url").toString());
    expect(header).toEqual({ alg, typ: "at+jwt", kid: key.kid });
  });

  it("Sello rejects PyJWT token for other audience", () => {
    const key = keys[alg];
    const { token } = runPyJwt<{ token: string }>({
      action: "sign",
      algorithm: alg,
      jwk: exportPrivateJwk(key),
      kid: key.kid,
      claims: claimsForPyJwt(OTHER_AUDIENCE),
    });
    const verify = createVerifier({
      algorithms: [alg],
      keys: resourceServerKeys(key),
      issuer: ISSUER,
      audience: AUDIENCE,
    });

    const error = captureError(() => verify(token));

    expect(error.code).toBe("invalid_token");
    expect(error.reason).toBe("aud_mismatch");
  });
});
