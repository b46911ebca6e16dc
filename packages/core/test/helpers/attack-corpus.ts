import { randomBytes, sign } from "node:crypto";
import type { Algorithm } from "../../src/algorithms.js";
import type { SelloKey } from "../../src/node/types.js";
import { publicKeyForms } from "./key-material.js";
import {
  accessClaims,
  accessHeader,
  encodeSegment,
  forgeToken,
  NOW,
  replaceAt,
  segmentsOf,
  signBytes,
  signedToken,
  signHmacWithSecret,
  signingInput,
  without,
} from "./token-forge.js";

/** A token built for a test corpus, with a description that names how it was made. */
export interface CorpusEntry {
  description: string;
  token: string;
}

export type KeysByAlgorithm = Record<Algorithm, SelloKey>;

const P256_ORDER = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

/**
 * Named valid and attack tokens over one key per algorithm, for comparing verifiers. Every
 * token is built for the same issuer, audience and frozen time as the forge's defaults.
 */
export function buildAttackCorpus(keys: KeysByAlgorithm, attacker: SelloKey): CorpusEntry[] {
  return [
    ...validTokens(keys),
    ...algNoneTokens(keys),
    ...algorithmConfusionTokens(keys),
    ...algorithmMismatchTokens(keys),
    ...ecdsaSignatureTokens(keys.ES256),
    ...rsaSignatureTokens(keys.RS256),
    ...embeddedKeyTokens(keys.ES256, attacker),
    ...headerParameterTokens(keys.ES256),
    ...shapeTokens(keys.EdDSA),
    ...duplicateMemberTokens(keys.HS256),
    ...nonCanonicalTokens(keys.ES256),
    ...notObjectTokens(keys.HS256),
    ...kidTokens(keys.ES256),
    ...otherTokenKinds(keys.ES256),
    ...claimTokens(keys.EdDSA),
  ];
}

function signSegments(key: SelloKey, header: string, payload: string): string {
  const signature = signBytes(
    key.alg,
    key.signKey as NonNullable<SelloKey["signKey"]>,
    Buffer.from(`${header}.${payload}`, "latin1"),
  );
  return `${header}.${payload}.${signature.toString("base64url")}`;
}

function validTokens(keys: KeysByAlgorithm): CorpusEntry[] {
  return Object.values(keys).flatMap((key) => [
    { description: `valid ${key.alg}`, token: signedToken(key) },
    {
      description: `valid ${key.alg} with an audience array`,
      token: signedToken(key, {
        payload: accessClaims({ aud: ["https://x.test", accessClaims().aud] }),
      }),
    },
    {
      description: `valid ${key.alg} with typ application/AT+JWT`,
      token: signedToken(key, { header: accessHeader(key, { typ: "application/AT+JWT" }) }),
    },
  ]);
}

function algNoneTokens(keys: KeysByAlgorithm): CorpusEntry[] {
  return ["none", "None", "NONE", "nOnE"].flatMap((alg) => {
    const input = signingInput({
      header: { alg, kid: keys.ES256.kid, typ: "at+jwt" },
      payload: accessClaims(),
    });
    return [
      { description: `alg ${alg} without a signature`, token: `${input}.` },
      {
        description: `alg ${alg} with a signature`,
        token: `${input}.${randomBytes(64).toString("base64url")}`,
      },
    ];
  });
}

function algorithmConfusionTokens(keys: KeysByAlgorithm): CorpusEntry[] {
  return [keys.RS256, keys.ES256].flatMap((target) =>
    publicKeyForms(target).flatMap((form) =>
      [true, false].map((withKid) => {
        const header = { alg: "HS256", typ: "at+jwt", ...(withKid ? { kid: target.kid } : {}) };
        const input = signingInput({ header, payload: accessClaims() });
        const mac = signHmacWithSecret(form.secret, Buffer.from(input));
        return {
          description: `HS256 with the ${form.name} of the ${target.alg} key ${withKid ? "and" : "without"} its kid`,
          token: `${input}.${mac.toString("base64url")}`,
        };
      }),
    ),
  );
}

function algorithmMismatchTokens(keys: KeysByAlgorithm): CorpusEntry[] {
  const unsigned = (key: SelloKey, alg: string, length: number) =>
    forgeToken(
      { header: accessHeader(key, { alg }), payload: accessClaims() },
      { signature: randomBytes(length) },
    );
  return [
    ...["ES384", "ES512", "RS256", "PS256", "HS256"].map((alg) => ({
      description: `${alg} for the P-256 key`,
      token: unsigned(keys.ES256, alg, 64),
    })),
    { description: "ES256 for the RSA key", token: unsigned(keys.RS256, "ES256", 64) },
    { description: "RS256 for the HS256 key", token: unsigned(keys.HS256, "RS256", 256) },
    ...[keys.ES256, keys.EdDSA, keys.RS256, keys.PS256].map((key) => ({
      description: `HS256 for the ${key.alg} key`,
      token: unsigned(key, "HS256", 32),
    })),
    {
      description: "RS256 signed by the PS256 key's RSA material",
      token: forgeToken(
        { header: accessHeader(keys.PS256, { alg: "RS256" }), payload: accessClaims() },
        { alg: "RS256", key: keys.PS256.signKey as NonNullable<SelloKey["signKey"]> },
      ),
    },
    {
      description: "PS256 signed by the RS256 key's RSA material",
      token: forgeToken(
        { header: accessHeader(keys.RS256, { alg: "PS256" }), payload: accessClaims() },
        { alg: "PS256", key: keys.RS256.signKey as NonNullable<SelloKey["signKey"]> },
      ),
    },
  ];
}

function ecdsaSignatureTokens(key: SelloKey): CorpusEntry[] {
  const [header, payload, signature] = segmentsOf(signedToken(key));
  const bytes = Buffer.from(signature, "base64url");
  const r = bytes.subarray(0, 32);
  const s = bytes.subarray(32);
  const scalar = (value: bigint) => Buffer.from(value.toString(16).padStart(64, "0"), "hex");
  const der = sign("sha256", Buffer.from(`${header}.${payload}`), {
    key: key.signKey as NonNullable<SelloKey["signKey"]>,
    dsaEncoding: "der",
  });
  const variants: [string, Buffer][] = [
    ["all zero", Buffer.alloc(64)],
    ["r = 0", Buffer.concat([scalar(0n), s])],
    ["s = 0", Buffer.concat([r, scalar(0n)])],
    ["r = n", Buffer.concat([scalar(P256_ORDER), s])],
    ["s = n", Buffer.concat([r, scalar(P256_ORDER)])],
    ["r > n", Buffer.concat([scalar(P256_ORDER + 5n), s])],
    ["s > n", Buffer.concat([r, scalar(P256_ORDER + 5n)])],
    [
      "s replaced by n - s",
      Buffer.concat([r, scalar(P256_ORDER - BigInt(`0x${s.toString("hex")}`))]),
    ],
    ["DER encoding", der],
    ["63 bytes", bytes.subarray(0, 63)],
    ["65 bytes", Buffer.concat([bytes, Buffer.from([0])])],
    ["72 bytes", Buffer.concat([bytes, Buffer.alloc(8)])],
  ];
  return variants.map(([name, value]) => ({
    description: `ES256 signature with ${name}`,
    token: `${header}.${payload}.${value.toString("base64url")}`,
  }));
}

function rsaSignatureTokens(key: SelloKey): CorpusEntry[] {
  for (let attempt = 0; attempt < 4096; attempt++) {
    const token = signedToken(key, { payload: accessClaims({ jti: `leading-zero-${attempt}` }) });
    const [header, payload, signature] = segmentsOf(token);
    const bytes = Buffer.from(signature, "base64url");
    if (bytes[0] === 0) {
      return [
        {
          description: "RS256 signature without its leading zero byte",
          token: `${header}.${payload}.${bytes.subarray(1).toString("base64url")}`,
        },
        {
          description: "RS256 signature with an extra leading zero byte",
          token: `${header}.${payload}.${Buffer.concat([Buffer.from([0]), bytes]).toString("base64url")}`,
        },
      ];
    }
  }
  return [];
}

function embeddedKeyTokens(key: SelloKey, attacker: SelloKey): CorpusEntry[] {
  const jwk = { ...attacker.verifyKey.export({ format: "jwk" }), kid: attacker.kid };
  const certificate = attacker.verifyKey.export({ type: "spki", format: "der" }).toString("base64");
  const byAttacker = (header: Record<string, unknown>) =>
    signedToken(attacker, { header: { alg: "ES256", typ: "at+jwt", ...header } });
  return [
    {
      description: "jwk header with the attacker kid",
      token: byAttacker({ kid: attacker.kid, jwk }),
    },
    { description: "jwk header without kid", token: byAttacker({ jwk }) },
    { description: "jwk header with the real kid", token: byAttacker({ kid: key.kid, jwk }) },
    {
      description: "jku header",
      token: byAttacker({ kid: attacker.kid, jku: "http://127.0.0.1:9/jwks" }),
    },
    {
      description: "x5u header",
      token: byAttacker({ kid: key.kid, x5u: "http://127.0.0.1:9/cert" }),
    },
    { description: "x5c header", token: byAttacker({ kid: key.kid, x5c: [certificate] }) },
    {
      description: "genuine token carrying jku, x5u, jwk and x5c",
      token: signedToken(key, {
        header: accessHeader(key, {
          jku: "http://127.0.0.1:9/jwks",
          x5u: "http://127.0.0.1:9/c",
          jwk,
          x5c: [certificate],
        }),
      }),
    },
  ];
}

function headerParameterTokens(key: SelloKey): CorpusEntry[] {
  const variants: [string, Record<string, unknown>][] = [
    ["empty crit", { crit: [] }],
    ['crit ["exp"]', { crit: ["exp"] }],
    ['crit ["b64"] with b64 false', { crit: ["b64"], b64: false }],
    ['crit ["b64"] with b64 true', { crit: ["b64"], b64: true }],
    ["b64 false", { b64: false }],
    ["b64 true", { b64: true }],
    ['zip "DEF"', { zip: "DEF" }],
  ];
  return variants.map(([name, extra]) => ({
    description: `header with ${name}`,
    token: signedToken(key, { header: accessHeader(key, extra) }),
  }));
}

function shapeTokens(key: SelloKey): CorpusEntry[] {
  const valid = signedToken(key);
  const [header, payload, signature] = segmentsOf(valid);
  return [
    { description: "two segments", token: `${header}.${payload}` },
    { description: "four segments", token: `${valid}.${signature}` },
    { description: "five segments", token: `${valid}.${signature}.${signature}` },
    { description: "empty signature", token: `${header}.${payload}.` },
    { description: "empty header", token: `.${payload}.${signature}` },
    { description: "empty payload", token: signSegments(key, header, "") },
    { description: "empty string", token: "" },
    { description: "refresh-token-shaped string", token: randomBytes(32).toString("base64url") },
    {
      description: "token over the length cap",
      token: signedToken(key, { payload: accessClaims({ pad: "x".repeat(8000) }) }),
    },
  ];
}

function duplicateMemberTokens(key: SelloKey): CorpusEntry[] {
  const headerText = JSON.stringify(accessHeader(key)).slice(0, -1);
  const claimsText = JSON.stringify(accessClaims()).slice(0, -1);
  const payload = encodeSegment(accessClaims());
  const header = encodeSegment(accessHeader(key));
  return [
    ["header alg repeated", `${headerText},"alg":"HS256"}`, "header"],
    ["header alg repeated with an escape", `${headerText},"\\u0061lg":"HS256"}`, "header"],
    ["header nested duplicate", `${headerText},"ext":{"a":1,"a":2}}`, "header"],
    ["payload sub repeated", `${claimsText},"sub":"admin"}`, "payload"],
    ["payload sub repeated with an escape", `${claimsText},"\\u0073ub":"admin"}`, "payload"],
    ["payload nested duplicate", `${claimsText},"ext":{"a":1,"a":2}}`, "payload"],
    ["payload duplicate in an array", `${claimsText},"ext":[{"a":1,"a":2}]}`, "payload"],
  ].map(([name, text, part]) => ({
    description: `duplicate member: ${name}`,
    token:
      part === "header"
        ? signSegments(key, encodeSegment(text), payload)
        : signSegments(key, header, encodeSegment(text)),
  }));
}

function nonCanonicalTokens(key: SelloKey): CorpusEntry[] {
  const [header, payload, signature] = segmentsOf(signedToken(key));
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const unusedBit = (segment: string) =>
    segment.length % 4 === 0
      ? segment
      : replaceAt(
          segment,
          segment.length - 1,
          alphabet[alphabet.indexOf(segment.at(-1) as string) | 1] as string,
        );
  const edits: [string, (segment: string) => string][] = [
    ["= padding", (segment) => `${segment}=`],
    ["+ for -", (segment) => segment.replace(/[-_]/, "+")],
    ["/ for _", (segment) => segment.replace(/[-_]/, "/")],
    ["a space", (segment) => `${segment.slice(0, 8)} ${segment.slice(8)}`],
    ["a newline", (segment) => `${segment.slice(0, 8)}\n${segment.slice(8)}`],
    ["an exclamation mark", (segment) => replaceAt(segment, 4, "!")],
    ["non-zero unused bits", unusedBit],
    [
      "a character above U+00FF",
      (segment) => replaceAt(segment, 4, String.fromCharCode(0x100 + segment.charCodeAt(4))),
    ],
  ];
  return edits.flatMap(([name, edit]) => [
    { description: `${name} in the header`, token: signSegments(key, edit(header), payload) },
    { description: `${name} in the payload`, token: signSegments(key, header, edit(payload)) },
    { description: `${name} in the signature`, token: `${header}.${payload}.${edit(signature)}` },
  ]);
}

function notObjectTokens(key: SelloKey): CorpusEntry[] {
  const header = encodeSegment(accessHeader(key));
  const payload = encodeSegment(accessClaims());
  return ["[]", '"x"', "1", "null", "{bad json", "\uFEFF{}"].flatMap((text) => [
    {
      description: `header ${JSON.stringify(text)}`,
      token: signSegments(key, encodeSegment(text), payload),
    },
    {
      description: `payload ${JSON.stringify(text)}`,
      token: signSegments(key, header, encodeSegment(text)),
    },
  ]);
}

function kidTokens(key: SelloKey): CorpusEntry[] {
  const kids: [string, unknown][] = [
    ["a number", 7],
    ["an object", { id: key.kid }],
    ["null", null],
    ["empty", ""],
    ["257 characters", "k".repeat(257)],
    ["unknown", "unknown-kid"],
    ["upper case", key.kid.toUpperCase()],
  ];
  return [
    ...kids.map(([name, kid]) => ({
      description: `kid ${name}`,
      token: signedToken(key, { header: accessHeader(key, { kid }) }),
    })),
    {
      description: "no kid with several keys",
      token: signedToken(key, { header: without(accessHeader(key), "kid") }),
    },
  ];
}

function otherTokenKinds(key: SelloKey): CorpusEntry[] {
  return [
    ["ID token with typ JWT", { typ: "JWT" }],
    ["typ dpop+jwt", { typ: "dpop+jwt" }],
    ["typ application/jwt", { typ: "application/jwt" }],
    ["typ with a trailing space", { typ: "at+jwt " }],
  ]
    .map(([name, extra]) => ({
      description: name as string,
      token: signedToken(key, { header: accessHeader(key, extra as Record<string, unknown>) }),
    }))
    .concat([
      {
        description: "missing typ",
        token: signedToken(key, { header: without(accessHeader(key), "typ") }),
      },
    ]);
}

function claimTokens(key: SelloKey): CorpusEntry[] {
  const variants: [string, Record<string, unknown>][] = [
    ["wrong iss", { iss: "https://other.example.test" }],
    ["aud mismatch", { aud: "https://other.example.test" }],
    ["aud array without overlap", { aud: ["https://x.test"] }],
    ["aud array with a number", { aud: [accessClaims().aud, 1] }],
    ["expired beyond tolerance", { exp: NOW - 6 }],
    ["expired at the tolerance", { exp: NOW - 5 }],
    ["expired within tolerance", { exp: NOW - 4 }],
    ["nbf beyond tolerance", { nbf: NOW + 6 }],
    ["nbf within tolerance", { nbf: NOW + 5 }],
    ["iat beyond tolerance", { iat: NOW + 6 }],
    ["exp as a string", { exp: String(NOW + 60) }],
    ["iat as a string", { iat: String(NOW) }],
    ["nbf as a string", { nbf: String(NOW) }],
    ["sub as a number", { sub: 5 }],
    ["empty jti", { jti: "" }],
    ["roles as a string", { roles: "admin" }],
    ["permissions with a number", { permissions: ["a", 1] }],
  ];
  const removed = ["exp", "iat", "sub", "jti", "client_id", "iss", "aud"].map((name) => ({
    description: `missing ${name}`,
    token: signedToken(key, { payload: without(accessClaims(), name) }),
  }));
  return variants
    .map(([name, overrides]) => ({
      description: `claims: ${name}`,
      token: signedToken(key, { payload: accessClaims(overrides) }),
    }))
    .concat(removed);
}
