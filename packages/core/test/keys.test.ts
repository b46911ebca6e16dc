import {
  constants,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from "node:crypto";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { ALGORITHMS, type Algorithm, ASYMMETRIC_ALGORITHMS } from "../src/algorithms.js";
import {
  computeKid,
  exportPrivateJwk,
  exportPublicJwk,
  generateKey,
  importHs256Secret,
  importKey,
  type JWK,
  PRIVATE_JWK_MEMBERS,
} from "../src/node/keys.js";
import type { SelloKey } from "../src/node/types.js";

// jose is the reference implementation for RFC 7638 thumbprints. It is loaded by a computed
// name so that this file still compiles and runs where jose is not installed.
// NOTE: without jose the cross-checks below are skipped, and only the RFC 7638 test vector
// checks the thumbprint.
interface JoseThumbprint {
  calculateJwkThumbprint(jwk: object, digestAlgorithm?: "sha256"): Promise<string>;
}
const JOSE_MODULE = "jose";
const jose = (await import(JOSE_MODULE).catch(() => undefined)) as JoseThumbprint | undefined;

type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

const keys = {} as Record<Algorithm, SelloKey>;

beforeAll(() => {
  for (const alg of ALGORITHMS) {
    keys[alg] = generateKey(alg);
  }
});

const SIGNING_INPUT = Buffer.from("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ0ZXN0In0");

/** Signs with raw node:crypto, independently of sign.ts, so imports are checked end to end. */
function rawSign(alg: Algorithm, signKey: KeyObject): Buffer {
  switch (alg) {
    case "ES256":
      return sign("sha256", SIGNING_INPUT, { key: signKey, dsaEncoding: "ieee-p1363" });
    case "EdDSA":
      return sign(null, SIGNING_INPUT, signKey);
    case "RS256":
      return sign("sha256", SIGNING_INPUT, signKey);
    case "PS256":
      return sign("sha256", SIGNING_INPUT, {
        key: signKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: 32,
      });
    case "HS256":
      return createHmac("sha256", signKey).update(SIGNING_INPUT).digest();
  }
}

function rawVerify(alg: Algorithm, verifyKey: KeyObject, signature: Buffer): boolean {
  switch (alg) {
    case "ES256":
      return verify(
        "sha256",
        SIGNING_INPUT,
        { key: verifyKey, dsaEncoding: "ieee-p1363" },
        signature,
      );
    case "EdDSA":
      return verify(null, SIGNING_INPUT, verifyKey, signature);
    case "RS256":
      return verify("sha256", SIGNING_INPUT, verifyKey, signature);
    case "PS256":
      return verify(
        "sha256",
        SIGNING_INPUT,
        { key: verifyKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
        signature,
      );
    case "HS256":
      return createHmac("sha256", verifyKey).update(SIGNING_INPUT).digest().equals(signature);
  }
}

function expectTypeError(action: () => unknown, pattern: RegExp): TypeError {
  let caught: unknown;
  try {
    action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(TypeError);
  expect((caught as TypeError).message).toMatch(pattern);
  return caught as TypeError;
}

describe("generateKey", () => {
  it.each(ALGORITHMS)("%s key signs and verifies", (alg) => {
    const key = keys[alg];
    expect(key.alg).toBe(alg);
    expect(key.signKey).toBeDefined();
    expect(Object.isFrozen(key)).toBe(true);

    const signature = rawSign(alg, key.signKey as KeyObject);
    expect(rawVerify(alg, key.verifyKey, signature)).toBe(true);
  });

  it("ES256 key is on P-256", () => {
    expect(keys.ES256.verifyKey.asymmetricKeyType).toBe("ec");
    expect(keys.ES256.verifyKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
  });

  it("EdDSA key is Ed25519", () => {
    expect(keys.EdDSA.verifyKey.asymmetricKeyType).toBe("ed25519");
  });

  it.each(["RS256", "PS256"] as const)("%s key is 3072-bit RSA", (alg) => {
    expect(keys[alg].verifyKey.asymmetricKeyType).toBe("rsa");
    expect(keys[alg].verifyKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
  });

  it("HS256 key is 32 random bytes", () => {
    expect(keys.HS256.signKey?.type).toBe("secret");
    expect(keys.HS256.signKey?.symmetricKeySize).toBe(32);
    expect(keys.HS256.verifyKey).toBe(keys.HS256.signKey);
    expect(generateKey("HS256").kid).not.toBe(keys.HS256.kid);
  });

  it("asymmetric verifyKey is public", () => {
    for (const alg of ASYMMETRIC_ALGORITHMS) {
      expect(keys[alg].verifyKey.type).toBe("public");
      expect(keys[alg].signKey?.type).toBe("private");
    }
  });

  it("unknown algorithm rejected", () => {
    expectTypeError(() => generateKey("ES384" as Algorithm), /Unsupported algorithm "ES384"/);
    expectTypeError(() => generateKey("none" as Algorithm), /Unsupported algorithm/);
  });
});

describe("computeKid", () => {
  it("matches RFC 7638 example", () => {
    // The RSA key and thumbprint from RFC 7638 section 3.1.
    const jwk: JWK = {
      kty: "RSA",
      n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
      e: "AQAB",
      alg: "RS256",
      kid: "2011-04-29",
    };
    expect(computeKid(jwk)).toBe("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  });

  it("equals kid of every generated key", () => {
    for (const alg of ASYMMETRIC_ALGORITHMS) {
      expect(computeKid(exportPublicJwk(keys[alg]))).toBe(keys[alg].kid);
    }
    expect(computeKid(exportPrivateJwk(keys.HS256))).toBe(keys.HS256.kid);
  });

  it("ignores private and extra members", () => {
    const privateJwk = exportPrivateJwk(keys.ES256);
    expect(computeKid({ ...privateJwk, kid: "other", use: "enc", x5t: "abc" })).toBe(
      keys.ES256.kid,
    );
  });

  it("kid is base64url SHA-256", () => {
    for (const alg of ALGORITHMS) {
      expect(keys[alg].kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
  });

  it("unknown kty rejected", () => {
    expectTypeError(() => computeKid({ kty: "XYZ" }), /kty "XYZ"/);
  });

  it("missing member rejected", () => {
    expectTypeError(
      () => computeKid({ kty: "EC", crv: "P-256", x: "abc" }),
      /member "y" is missing/,
    );
    expectTypeError(
      () => computeKid({ kty: "RSA", n: 5, e: "AQAB" } as unknown as JWK),
      /member "n" is missing or not a string/,
    );
  });

  it.skipIf(jose === undefined).each(ALGORITHMS)("%s kid equals jose thumbprint", async (alg) => {
    const jwk = alg === "HS256" ? exportPrivateJwk(keys[alg]) : exportPublicJwk(keys[alg]);
    const reference = await (jose as JoseThumbprint).calculateJwkThumbprint(jwk, "sha256");
    expect(keys[alg].kid).toBe(reference);
  });
});

describe("importKey round trips", () => {
  interface Format {
    name: string;
    algorithms: readonly AsymmetricAlgorithm[];
    isPrivate: boolean;
    encode(key: SelloKey): string | Uint8Array | JWK | KeyObject;
  }

  const privateKeyOf = (key: SelloKey) => key.signKey as KeyObject;

  const formats: Format[] = [
    {
      name: "PKCS#8 PEM",
      algorithms: ASYMMETRIC_ALGORITHMS,
      isPrivate: true,
      encode: (key) => privateKeyOf(key).export({ format: "pem", type: "pkcs8" }) as string,
    },
    {
      name: "SPKI PEM",
      algorithms: ASYMMETRIC_ALGORITHMS,
      isPrivate: false,
      encode: (key) => key.verifyKey.export({ format: "pem", type: "spki" }) as string,
    },
    {
      name: "PKCS#1 private PEM",
      algorithms: ["RS256", "PS256"],
      isPrivate: true,
      encode: (key) => privateKeyOf(key).export({ format: "pem", type: "pkcs1" }) as string,
    },
    {
      name: "PKCS#1 public PEM",
      algorithms: ["RS256", "PS256"],
      isPrivate: false,
      encode: (key) => key.verifyKey.export({ format: "pem", type: "pkcs1" }) as string,
    },
    {
      name: "SEC1 PEM",
      algorithms: ["ES256"],
      isPrivate: true,
      encode: (key) => privateKeyOf(key).export({ format: "pem", type: "sec1" }) as string,
    },
    {
      name: "PKCS#8 DER",
      algorithms: ASYMMETRIC_ALGORITHMS,
      isPrivate: true,
      encode: (key) => privateKeyOf(key).export({ format: "der", type: "pkcs8" }),
    },
    {
      name: "SPKI DER",
      algorithms: ASYMMETRIC_ALGORITHMS,
      isPrivate: false,
      encode: (key) => key.verifyKey.export({ format: "der", type: "spki" }),
    },
    {
      name: "PKCS#1 private DER",
      algorithms: ["RS256", "PS256"],
      isPrivate: true,
      encode: (key) => privateKeyOf(key).export({ format: "der", type: "pkcs1" }),
    },
    {
      name: "PKCS#1 public DER",
      algorithms: ["RS256", "PS256"],
      isPrivate: false,
      encode: (key) => key.verifyKey.export({ format: "der", type: "pkcs1" }),
    },
    {
      name: "SEC1 DER",
      algorithms: ["ES256"],
      isPrivate: true,
      encode: (key) => privateKeyOf(key).export({ format: "der", type: "sec1" }),
    },
    {
      name: "DER in a plain Uint8Array",
      algorithms: ASYMMETRIC_ALGORITHMS,
      isPrivate: true,
      encode: (key) => new Uint8Array(privateKeyOf(key).export({ format: "der", type: "pkcs8" })),
    },
    {
      name: "PEM as bytes",
      algorithms: ASYMMETRIC_ALGORITHMS,
      isPrivate: true,
      encode: (key) =>
        Buffer.from(privateKeyOf(key).export({ format: "pem", type: "pkcs8" }) as string),
    },
    {
      name: "private JWK",
      algorithms: ASYMMETRIC_ALGORITHMS,
      isPrivate: true,
      encode: (key) => exportPrivateJwk(key),
    },
    {
      name: "public JWK",
      algorithms: ASYMMETRIC_ALGORITHMS,
      isPrivate: false,
      encode: (key) => exportPublicJwk(key),
    },
    {
      name: "private JWK as JSON text",
      algorithms: ASYMMETRIC_ALGORITHMS,
      isPrivate: true,
      encode: (key) => JSON.stringify(exportPrivateJwk(key)),
    },
    {
      name: "private KeyObject",
      algorithms: ASYMMETRIC_ALGORITHMS,
      isPrivate: true,
      encode: (key) => privateKeyOf(key),
    },
    {
      name: "public KeyObject",
      algorithms: ASYMMETRIC_ALGORITHMS,
      isPrivate: false,
      encode: (key) => key.verifyKey,
    },
  ];

  const cases = formats.flatMap((format) =>
    format.algorithms.map((alg) => [format.name, alg, format] as const),
  );

  it.each(cases)("%s imports as %s", (_name, alg, format) => {
    const original = keys[alg];
    const imported = importKey(format.encode(original), alg);

    expect(imported.alg).toBe(alg);
    expect(imported.kid).toBe(original.kid);
    expect(imported.verifyKey.type).toBe("public");

    if (format.isPrivate) {
      const signature = rawSign(alg, imported.signKey as KeyObject);
      expect(rawVerify(alg, original.verifyKey, signature)).toBe(true);
    } else {
      expect(imported.signKey).toBeUndefined();
      const signature = rawSign(alg, original.signKey as KeyObject);
      expect(rawVerify(alg, imported.verifyKey, signature)).toBe(true);
    }
  });

  it("PEM with surrounding whitespace imports", () => {
    const pem = keys.ES256.signKey?.export({ format: "pem", type: "pkcs8" }) as string;
    const imported = importKey(`\n  ${pem.replaceAll("\n", "\r\n")}  \n`, "ES256");
    expect(imported.kid).toBe(keys.ES256.kid);
  });

  it("JWK kid is replaced by thumbprint", () => {
    const imported = importKey({ ...exportPublicJwk(keys.EdDSA), kid: "custom" }, "EdDSA");
    expect(imported.kid).toBe(keys.EdDSA.kid);
  });

  it("HS256 string secret imports", () => {
    const secret = randomBytes(32).toString("base64");
    const key = importKey(secret, "HS256");
    expect(key.signKey?.export().toString("utf8")).toBe(secret);
    expect(key.kid).toBe(computeKid({ kty: "oct", k: Buffer.from(secret).toString("base64url") }));
  });

  it("HS256 bytes import", () => {
    const secret = randomBytes(48);
    const key = importKey(secret, "HS256");
    expect(key.signKey?.export().equals(secret)).toBe(true);
  });

  it("HS256 private JWK round trips", () => {
    const jwk = exportPrivateJwk(keys.HS256);
    const imported = importKey(jwk, "HS256");
    expect(imported.kid).toBe(keys.HS256.kid);
    expect(imported.signKey?.export().equals(keys.HS256.signKey?.export() as Buffer)).toBe(true);
  });

  it("HS256 KeyObject imports", () => {
    const imported = importKey(keys.HS256.signKey as KeyObject, "HS256");
    expect(imported.kid).toBe(keys.HS256.kid);
  });

  it("HS256 caller bytes left unchanged", () => {
    const secret = randomBytes(32);
    const copy = Buffer.from(secret);
    importHs256Secret(secret);
    expect(secret.equals(copy)).toBe(true);
  });
});

describe("importKey rejections", () => {
  it("RSA 1024-bit rejected", () => {
    const pair = generateKeyPairSync("rsa", { modulusLength: 1024 });
    for (const alg of ["RS256", "PS256"] as const) {
      expectTypeError(
        () => importKey(pair.privateKey, alg),
        /at least 2048 bits, but the key has 1024 bits/,
      );
      expectTypeError(
        () => importKey(pair.publicKey.export({ format: "jwk" }) as JWK, alg),
        /at least 2048 bits/,
      );
    }
  });

  it("RSA 2048-bit accepted", () => {
    const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
    for (const alg of ["RS256", "PS256"] as const) {
      const key = importKey(
        pair.privateKey.export({ format: "pem", type: "pkcs8" }) as string,
        alg,
      );
      expect(key.verifyKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
      expect(key.signKey).toBeDefined();
    }
  });

  it("P-384 key rejected as ES256", () => {
    const pair = generateKeyPairSync("ec", { namedCurve: "P-384" });
    expectTypeError(
      () => importKey(pair.privateKey, "ES256"),
      /ES256 needs an EC P-256 key, but the key is an EC P-384 key/,
    );
    expectTypeError(
      () => importKey(pair.publicKey.export({ format: "jwk" }) as JWK, "ES256"),
      /EC P-384/,
    );
  });

  it("secp256k1 key rejected as ES256", () => {
    const pair = generateKeyPairSync("ec", { namedCurve: "secp256k1" });
    expectTypeError(() => importKey(pair.privateKey, "ES256"), /an EC secp256k1 key/);
  });

  it("RSA key rejected as ES256", () => {
    expectTypeError(
      () => importKey(keys.RS256.signKey as KeyObject, "ES256"),
      /needs an EC P-256 key, but the key is a 3072-bit RSA key/,
    );
  });

  it("Ed25519 key rejected as ES256", () => {
    const { alg: _alg, ...jwk } = exportPublicJwk(keys.EdDSA);
    expectTypeError(() => importKey(jwk as JWK, "ES256"), /an Ed25519 key/);
  });

  it("Ed448 key rejected as EdDSA", () => {
    const pair = generateKeyPairSync("ed448");
    expectTypeError(
      () => importKey(pair.privateKey, "EdDSA"),
      /EdDSA needs an Ed25519 key, but the key is an Ed448 key/,
    );
    const pem = pair.publicKey.export({ format: "pem", type: "spki" }) as string;
    expectTypeError(() => importKey(pem, "EdDSA"), /an Ed448 key/);
  });

  it("EC key rejected as RS256", () => {
    expectTypeError(
      () => importKey(keys.ES256.verifyKey, "RS256"),
      /RS256 needs an RSA key, but the key is an EC P-256 key/,
    );
    const { alg: _alg, ...jwk } = exportPrivateJwk(keys.ES256);
    expectTypeError(() => importKey(jwk as JWK, "PS256"), /PS256 needs an RSA key/);
  });

  it("RSA-PSS key rejected as PS256", () => {
    const pair = generateKeyPairSync("rsa-pss", { modulusLength: 2048 });
    expectTypeError(() => importKey(pair.privateKey, "PS256"), /restricted to RSA-PSS/);
  });

  it("JWK alg mismatch rejected", () => {
    const jwk = exportPublicJwk(keys.RS256);
    expectTypeError(
      () => importKey(jwk, "PS256"),
      /JWK has alg "RS256", but it is being imported as PS256/,
    );
    expectTypeError(
      () => importKey({ ...exportPrivateJwk(keys.HS256), alg: "HS512" }, "HS256"),
      /alg "HS512"/,
    );
  });

  it("JWK with use enc rejected", () => {
    expectTypeError(
      () => importKey({ ...exportPublicJwk(keys.ES256), use: "enc" }, "ES256"),
      /use "enc"/,
    );
  });

  it("oct JWK rejected as ES256", () => {
    const jwk = exportPrivateJwk(keys.HS256);
    const error = expectTypeError(
      () => importKey({ ...jwk, alg: undefined }, "ES256"),
      /symmetric oct key/,
    );
    expect(error.message).not.toContain(jwk.k);
  });

  it("secret KeyObject rejected as ES256", () => {
    expectTypeError(
      () => importKey(keys.HS256.signKey as KeyObject, "ES256"),
      /needs an asymmetric key, but the KeyObject is a 32-byte secret key/,
    );
  });

  it("asymmetric KeyObject rejected as HS256", () => {
    expectTypeError(
      () => importKey(keys.ES256.signKey as KeyObject, "HS256"),
      /HS256 needs a shared secret, but the KeyObject is an EC P-256 key/,
    );
  });

  it("EC JWK rejected as HS256", () => {
    const { alg: _alg, ...jwk } = exportPublicJwk(keys.ES256);
    expectTypeError(
      () => importKey(jwk as JWK, "HS256"),
      /must have kty "oct" and a string "k"; got kty "EC"/,
    );
  });

  it("encrypted PEM rejected", () => {
    const pem = generateKeyPairSync("ec", {
      namedCurve: "P-256",
      privateKeyEncoding: {
        format: "pem",
        type: "pkcs8",
        cipher: "aes-256-cbc",
        passphrase: "correct horse",
      },
      publicKeyEncoding: { format: "pem", type: "spki" },
    }).privateKey;
    expectTypeError(() => importKey(pem, "ES256"), /encrypted with a passphrase/);
  });

  it("OpenSSH key rejected", () => {
    const line = `ssh-ed25519 ${randomBytes(51).toString("base64")} user@host`;
    expectTypeError(() => importKey(line, "EdDSA"), /OpenSSH format/);
  });

  it("invalid JSON rejected without echo", () => {
    const text = '{"kty":"EC","d":"c2VjcmV0LW1hdGVyaWFs",}';
    const error = expectTypeError(() => importKey(text, "ES256"), /not valid JSON/);
    expect(error.message).not.toContain("c2VjcmV0LW1hdGVyaWFs");
  });

  it("corrupt PEM rejected without echo", () => {
    const pem = keys.ES256.signKey?.export({ format: "pem", type: "pkcs8" }) as string;
    const lines = pem.split("\n");
    const body = lines[1] as string;
    const corrupt = pem.replace(body, body.split("").reverse().join(""));
    const error = expectTypeError(
      () => importKey(corrupt, "ES256"),
      /Cannot parse the ES256 PEM key/,
    );
    expect(error.message).not.toContain(body.slice(0, 16));
    expect(error.cause).toBeUndefined();
  });

  it("invalid JWK member rejected without echo", () => {
    const jwk = exportPrivateJwk(keys.RS256);
    const error = expectTypeError(
      () => importKey({ ...jwk, p: 123456789 } as unknown as JWK, "RS256"),
      /Cannot import the RS256 JWK/,
    );
    expect(error.message).not.toContain("123456789");
  });

  it("random bytes rejected as DER", () => {
    expectTypeError(
      () => importKey(randomBytes(64), "ES256"),
      /Cannot parse the ES256 key bytes as DER/,
    );
  });

  it("plain text rejected", () => {
    expectTypeError(() => importKey("not a key", "ES256"), /must be PEM text/);
  });

  it("unsupported input type rejected", () => {
    expectTypeError(() => importKey(42 as unknown as string, "ES256"), /got number/);
    expectTypeError(() => importKey(null as unknown as string, "RS256"), /got null/);
  });

  it("private key material absent from messages", () => {
    const jwk = exportPrivateJwk(keys.ES256);
    const attempts: Array<() => unknown> = [
      () => importKey(jwk, "EdDSA"),
      () => importKey(jwk, "RS256"),
      () => importKey({ ...jwk, alg: "ES512" }, "ES256"),
      () => importKey({ ...jwk, crv: "P-384" }, "ES256"),
      () => importKey(JSON.stringify(jwk).slice(0, -1), "ES256"),
    ];
    for (const attempt of attempts) {
      const error = expectTypeError(attempt, /./);
      expect(error.message).not.toContain(jwk.d);
    }
  });
});

describe("importHs256Secret", () => {
  const ADVICE = /openssl rand -base64 32/;

  /** Expects a rejection whose message matches `pattern`, gives advice and omits the secret. */
  function expectRejected(secret: string | Uint8Array, pattern: RegExp): void {
    const error = expectTypeError(() => importHs256Secret(secret), pattern);
    expect(error.message).toMatch(ADVICE);

    // A secret shorter than 8 bytes, such as "secret", can occur in a message as an ordinary word.
    const bytes = Buffer.from(secret);
    if (bytes.length < 8) {
      return;
    }
    expect(error.message).not.toContain(bytes.toString("utf8").trim());
    expect(error.message).not.toContain(bytes.toString("base64"));
    expect(error.message).not.toContain(bytes.toString("hex"));
  }

  it("random base64 secret accepted", () => {
    const key = importHs256Secret(randomBytes(32).toString("base64"));
    expect(key.alg).toBe("HS256");
    expect(key.signKey?.symmetricKeySize).toBe(44);
  });

  it("random hex secret accepted", () => {
    expect(importHs256Secret(randomBytes(32).toString("hex")).alg).toBe("HS256");
  });

  it("random bytes accepted", () => {
    expect(importHs256Secret(randomBytes(32)).signKey?.symmetricKeySize).toBe(32);
  });

  it("long passphrase accepted", () => {
    expect(importHs256Secret("correct horse battery staple, violet orbit 9").alg).toBe("HS256");
  });

  it("empty secret rejected", () => {
    expectTypeError(() => importHs256Secret(""), /the secret is empty/);
    expectTypeError(() => importHs256Secret(new Uint8Array(0)), /the secret is empty/);
  });

  it("31-byte secret rejected", () => {
    expectRejected(randomBytes(31), /31 bytes long, but HS256 needs at least 32 bytes/);
    expectRejected("k8#Lq2!vZ@9pWx$3mN7&rT5^yB1*cD4", /31 bytes long/);
  });

  it("32-byte secret accepted", () => {
    expect(importHs256Secret("k8#Lq2!vZ@9pWx$3mN7&rT5^yB1*cD4e").alg).toBe("HS256");
  });

  it("non-string secret rejected", () => {
    expectTypeError(
      () => importHs256Secret(42 as unknown as string),
      /string or a Uint8Array; got number/,
    );
  });

  it.each([
    "secret",
    "changeme",
    "your-secret-key",
    "your-256-bit-secret",
    "jwt-secret",
    "supersecret",
    "password",
    "mysecretkey",
    "default",
    "your_jwt_secret",
    "my-secret",
  ])("placeholder %s rejected", (placeholder) => {
    expectRejected(placeholder, /well-known placeholder/);
  });

  it("padded placeholder rejected", () => {
    expectRejected("Secret_Secret_Secret_Secret_Secret", /well-known placeholder/);
    expectRejected("your-256-bit-secret-your-256-bit-secret", /well-known placeholder/);
  });

  it("placeholder with case and separators rejected", () => {
    expectRejected("YOUR_256_BIT_SECRET____________________", /well-known placeholder/);
    expectRejected("Your 256-bit Secret", /well-known placeholder/);
    expectRejected("S.U.P.E.R.S.E.C.R.E.T", /well-known placeholder/);
  });

  it("placeholder with trailing digits rejected", () => {
    expectRejected("password1234567890123456789012345", /well-known placeholder/);
    expectRejected("changeme2024", /well-known placeholder/);
  });

  it("placeholder repetition rejected", () => {
    expectRejected("changemechangemechangemechangeme", /well-known placeholder/);
    expectRejected("secret-secret-secret-secret-secret-secret", /well-known placeholder/);
    expectRejected("passwordpasswordpasswordpasswordpass", /well-known placeholder/);
    expectRejected("12345678901234567890123456789012", /well-known placeholder/);
  });

  it("single repeated byte rejected", () => {
    expectRejected("a".repeat(32), /too uniform to be random: 1 distinct byte values in 32 bytes/);
    expectRejected(Buffer.alloc(64, 0), /too uniform/);
  });

  it("few distinct bytes rejected", () => {
    expectRejected(`${"a".repeat(25)}bcdefgh`, /too uniform to be random: 8 distinct byte values/);
    expectRejected("ab".repeat(20), /too uniform/);
  });

  it("repeated pattern rejected", () => {
    const half = randomBytes(16);
    expectRejected(Buffer.concat([half, half]), /repeats a 16-byte pattern/);
    expectRejected("Xq7#Lm2!Xq7#Lm2!Xq7#Lm2!Xq7#Lm2!Xq7#", /repeats a 8-byte pattern/);
  });

  it("private key PEM rejected", () => {
    const pem = keys.ES256.signKey?.export({ format: "pem", type: "pkcs8" }) as string;
    expectRejected(pem, /looks like a PEM-encoded key/);
  });

  it("PEM with whitespace and CRLF rejected", () => {
    const pem = keys.EdDSA.signKey?.export({ format: "pem", type: "pkcs8" }) as string;
    expectRejected(`\r\n   ${pem.replaceAll("\n", "\r\n")}\r\n\t`, /looks like a PEM-encoded key/);
    expectRejected(`  ${pem}  `, /looks like a PEM-encoded key/);
  });

  it("PKCS#1 PEM rejected", () => {
    const pem = keys.RS256.signKey?.export({ format: "pem", type: "pkcs1" }) as string;
    expectRejected(pem, /looks like a PEM-encoded key/);
    expectRejected(
      keys.RS256.verifyKey.export({ format: "pem", type: "pkcs1" }) as string,
      /PEM-encoded/,
    );
  });

  it("public key PEM rejected", () => {
    expectRejected(
      keys.ES256.verifyKey.export({ format: "pem", type: "spki" }) as string,
      /PEM-encoded/,
    );
  });

  it("DER private key rejected", () => {
    expectRejected(
      keys.ES256.signKey?.export({ format: "der", type: "pkcs8" }) as Buffer,
      /looks like a DER-encoded key/,
    );
    expectRejected(
      keys.ES256.signKey?.export({ format: "der", type: "sec1" }) as Buffer,
      /DER-encoded key/,
    );
  });

  it("DER public key rejected", () => {
    expectRejected(
      keys.EdDSA.verifyKey.export({ format: "der", type: "spki" }),
      /looks like a DER-encoded key/,
    );
    expectRejected(
      keys.RS256.verifyKey.export({ format: "der", type: "pkcs1" }),
      /DER-encoded key/,
    );
  });

  it("JWK JSON rejected", () => {
    expectRejected(JSON.stringify(exportPrivateJwk(keys.ES256)), /looks like a JSON Web Key/);
    expectRejected(JSON.stringify(exportPrivateJwk(keys.HS256), null, 2), /JSON Web Key/);
    expectRejected(JSON.stringify({ keys: [exportPublicJwk(keys.RS256)] }), /JSON Web Key/);
  });

  it("OpenSSH public key rejected", () => {
    expectRejected(
      `ssh-ed25519 ${randomBytes(51).toString("base64")} deploy@example`,
      /looks like an OpenSSH public key/,
    );
    expectRejected(`ssh-rsa ${randomBytes(279).toString("base64")}`, /OpenSSH public key/);
    expectRejected(
      `  ecdsa-sha2-nistp256 ${randomBytes(104).toString("base64")} ops\n`,
      /OpenSSH public key/,
    );
  });

  it("OpenSSH private key rejected", () => {
    const pem = `-----BEGIN OPENSSH PRIVATE KEY-----\n${randomBytes(200).toString("base64")}\n-----END OPENSSH PRIVATE KEY-----\n`;
    expectRejected(pem, /PEM-encoded/);
  });

  it("messages never contain secret", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 8, maxLength: 80 }), (secret) => {
        try {
          importHs256Secret(secret);
        } catch (error) {
          expect(error).toBeInstanceOf(TypeError);
          expect((error as TypeError).message).not.toContain(secret);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("exportPublicJwk", () => {
  const expectedMembers: Record<AsymmetricAlgorithm, string[]> = {
    ES256: ["kty", "crv", "x", "y", "kid", "alg", "use"],
    EdDSA: ["kty", "crv", "x", "kid", "alg", "use"],
    RS256: ["kty", "n", "e", "kid", "alg", "use"],
    PS256: ["kty", "n", "e", "kid", "alg", "use"],
  };

  it.each(ASYMMETRIC_ALGORITHMS)("%s JWK has public members only", (alg) => {
    const jwk = exportPublicJwk(keys[alg]);
    expect(Object.keys(jwk)).toEqual(expectedMembers[alg]);
    expect(jwk.kid).toBe(keys[alg].kid);
    expect(jwk.alg).toBe(alg);
    expect(jwk.use).toBe("sig");
    for (const member of PRIVATE_JWK_MEMBERS) {
      expect(jwk).not.toHaveProperty(member);
    }
  });

  it("EC and OKP curves named", () => {
    expect(exportPublicJwk(keys.ES256)).toMatchObject({ kty: "EC", crv: "P-256" });
    expect(exportPublicJwk(keys.EdDSA)).toMatchObject({ kty: "OKP", crv: "Ed25519" });
    expect(exportPublicJwk(keys.RS256)).toMatchObject({ kty: "RSA", e: "AQAB" });
  });

  it("HS256 key rejected", () => {
    const error = expectTypeError(
      () => exportPublicJwk(keys.HS256),
      /symmetric HS256 key, which has no public JWK/,
    );
    expect(error.message).not.toContain(exportPrivateJwk(keys.HS256).k);
  });

  it("returned JWK is a copy", () => {
    const first = exportPublicJwk(keys.ES256);
    first.kid = "changed";
    first.d = "injected";
    const second = exportPublicJwk(keys.ES256);
    expect(second.kid).toBe(keys.ES256.kid);
    expect(second).not.toHaveProperty("d");
  });

  it("verify-only key exports", () => {
    const publicOnly = importKey(exportPublicJwk(keys.PS256), "PS256");
    expect(exportPublicJwk(publicOnly)).toEqual(exportPublicJwk(keys.PS256));
  });
});

describe("exportPrivateJwk", () => {
  it.each(ASYMMETRIC_ALGORITHMS)("%s private JWK has d, kid and alg", (alg) => {
    const jwk = exportPrivateJwk(keys[alg]);
    expect(typeof jwk.d).toBe("string");
    expect(jwk.kid).toBe(keys[alg].kid);
    expect(jwk.alg).toBe(alg);
  });

  it("RSA private JWK has CRT members", () => {
    const jwk = exportPrivateJwk(keys.RS256);
    for (const member of ["p", "q", "dp", "dq", "qi"]) {
      expect(typeof jwk[member]).toBe("string");
    }
  });

  it("HS256 private JWK is oct", () => {
    const jwk = exportPrivateJwk(keys.HS256);
    expect(jwk.kty).toBe("oct");
    expect(
      Buffer.from(jwk.k as string, "base64url").equals(keys.HS256.signKey?.export() as Buffer),
    ).toBe(true);
    expect(jwk.alg).toBe("HS256");
  });

  it("verify-only key rejected", () => {
    const publicOnly = importKey(keys.ES256.verifyKey, "ES256");
    expectTypeError(() => exportPrivateJwk(publicOnly), /verify-only/);
  });

  it("private JWK re-imports to same key", () => {
    for (const alg of ASYMMETRIC_ALGORITHMS) {
      const jwk = exportPrivateJwk(keys[alg]);
      const fromNode = createPrivateKey({ key: jwk as never, format: "jwk" });
      expect(createPublicKey(fromNode).export({ format: "jwk" })).toEqual(
        keys[alg].verifyKey.export({ format: "jwk" }),
      );
    }
    const secret = createSecretKey(
      Buffer.from(exportPrivateJwk(keys.HS256).k as string, "base64url"),
    );
    expect(secret.equals(keys.HS256.signKey as KeyObject)).toBe(true);
  });
});
