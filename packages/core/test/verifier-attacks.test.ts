import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Algorithm } from "../src/algorithms.js";
import type { SelloKey } from "../src/node/types.js";
import { publicKeyForms } from "./helpers/key-material.js";
import {
  accessClaims,
  accessHeader,
  encodeSegment,
  forgeToken,
  invalid,
  makeKey,
  makeVerifier,
  rejectionOf,
  segmentsOf,
  signedToken,
  signHmacWithSecret,
  signingInput,
  without,
} from "./helpers/token-forge.js";

const ALL: Algorithm[] = ["ES256", "EdDSA", "RS256", "PS256", "HS256"];

const es256 = makeKey("ES256");
const eddsa = makeKey("EdDSA");
const rs256 = makeKey("RS256");
const ps256 = makeKey("PS256");
const hs256 = makeKey("HS256");
const attacker = makeKey("ES256");

const verifyAll = makeVerifier([es256, eddsa, rs256, ps256, hs256], { algorithms: ALL });

/** Builds a token with the given header, the standard claims and `length` random signature bytes. */
function unsignedToken(header: Record<string, unknown>, length = 64): string {
  return forgeToken({ header, payload: accessClaims() }, { signature: randomBytes(length) });
}

describe("alg none", () => {
  for (const alg of ["none", "None", "NONE", "nOnE"]) {
    it(`rejects alg ${alg} with a signature part`, () => {
      const token = unsignedToken({ alg, typ: "at+jwt" });
      expect(rejectionOf(() => verifyAll(token))).toEqual(invalid("alg_none"));
    });

    it(`rejects alg ${alg} with the kid of a real key`, () => {
      const token = unsignedToken({ alg, kid: es256.kid, typ: "at+jwt" });
      expect(rejectionOf(() => verifyAll(token))).toEqual(invalid("alg_none"));
    });

    it(`rejects alg ${alg} without a signature part`, () => {
      const token = `${signingInput({ header: { alg, typ: "at+jwt" }, payload: accessClaims() })}.`;
      expect(rejectionOf(() => verifyAll(token))).toEqual(invalid("malformed"));
    });
  }

  it("rejects alg none written with escapes", () => {
    const token = unsignedToken({}).replace(/^[^.]+/, encodeSegment('{"alg":"n\\u006Fne"}'));
    expect(rejectionOf(() => verifyAll(token))).toEqual(invalid("alg_none"));
  });
});

describe("HS256 with a public key as the HMAC secret", () => {
  for (const target of [rs256, es256]) {
    for (const form of publicKeyForms(target)) {
      const input = (withKid: boolean) => {
        const header = { alg: "HS256", typ: "at+jwt", ...(withKid ? { kid: target.kid } : {}) };
        return signingInput({ header, payload: accessClaims() });
      };
      const forge = (withKid: boolean) => {
        const data = input(withKid);
        const mac = signHmacWithSecret(form.secret, Buffer.from(data));
        return `${data}.${mac.toString("base64url")}`;
      };

      describe(`${form.name} of the ${target.alg} key`, () => {
        const onlyTarget = makeVerifier([target]);
        const alsoHs256 = makeVerifier([target], { algorithms: [target.alg, "HS256"] });

        it("rejects with kid, HS256 not allowed", () => {
          expect(rejectionOf(() => onlyTarget(forge(true)))).toEqual(invalid("alg_not_allowed"));
        });

        it("rejects without kid, HS256 not allowed", () => {
          expect(rejectionOf(() => onlyTarget(forge(false)))).toEqual(invalid("alg_not_allowed"));
        });

        it("rejects with kid, HS256 allowed", () => {
          expect(rejectionOf(() => alsoHs256(forge(true)))).toEqual(invalid("alg_key_mismatch"));
        });

        it("rejects without kid, HS256 allowed", () => {
          expect(rejectionOf(() => alsoHs256(forge(false)))).toEqual(invalid("alg_key_mismatch"));
        });

        it("rejects with every key loaded", () => {
          expect(rejectionOf(() => verifyAll(forge(true)))).toEqual(invalid("alg_key_mismatch"));
        });
      });
    }
  }
});

describe("alg that does not match the key", () => {
  it.each(["ES384", "ES512"])("rejects %s for a P-256 key as not allowed", (alg) => {
    const token = unsignedToken(accessHeader(es256, { alg }));
    expect(rejectionOf(() => verifyAll(token))).toEqual(invalid("alg_not_allowed"));
  });

  it.each(["RS256", "PS256", "EdDSA", "HS256"])("rejects %s for a P-256 key", (alg) => {
    const token = unsignedToken(accessHeader(es256, { alg }));
    expect(rejectionOf(() => verifyAll(token))).toEqual(invalid("alg_key_mismatch"));
  });

  it("rejects ES256 for an RSA key", () => {
    const token = unsignedToken(accessHeader(rs256, { alg: "ES256" }));
    expect(rejectionOf(() => verifyAll(token))).toEqual(invalid("alg_key_mismatch"));
  });

  it.each([
    ["ES256", es256],
    ["EdDSA", eddsa],
    ["RS256", rs256],
    ["PS256", ps256],
  ] as const)("rejects HS256 for the %s key", (_name, key) => {
    const token = unsignedToken(accessHeader(key, { alg: "HS256" }), 32);
    expect(rejectionOf(() => verifyAll(token))).toEqual(invalid("alg_key_mismatch"));
  });

  it("rejects RS256 for the HS256 key", () => {
    const token = unsignedToken(accessHeader(hs256, { alg: "RS256" }), 256);
    expect(rejectionOf(() => verifyAll(token))).toEqual(invalid("alg_key_mismatch"));
  });

  it("rejects RS256 signed by the PS256 key's RSA material", () => {
    const header = accessHeader(ps256, { alg: "RS256" });
    const token = forgeToken(
      { header, payload: accessClaims() },
      { alg: "RS256", key: ps256.signKey as NonNullable<SelloKey["signKey"]> },
    );
    expect(rejectionOf(() => verifyAll(token))).toEqual(invalid("alg_key_mismatch"));
  });

  it("rejects an ES256 label on an RSA key", () => {
    const mislabelled: SelloKey = { ...rs256, alg: "ES256" };
    const token = unsignedToken(accessHeader(mislabelled));
    expect(rejectionOf(() => makeVerifier([mislabelled])(token))).toEqual(
      invalid("alg_key_mismatch"),
    );
  });

  it("rejects an HS256 label on a public key", () => {
    const mislabelled: SelloKey = { ...es256, alg: "HS256" };
    const token = unsignedToken(accessHeader(mislabelled), 32);
    expect(rejectionOf(() => makeVerifier([mislabelled])(token))).toEqual(
      invalid("alg_key_mismatch"),
    );
  });

  it("rejects an RSA key shorter than 2048 bits", () => {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const weak: SelloKey = { kid: "weak", alg: "RS256", verifyKey: publicKey, signKey: privateKey };
    const token = signedToken(weak);
    expect(rejectionOf(() => makeVerifier([weak])(token))).toEqual(invalid("alg_key_mismatch"));
  });

  it("rejects an EdDSA label on a P-256 key", () => {
    const mislabelled: SelloKey = { ...es256, alg: "EdDSA" };
    const token = unsignedToken(accessHeader(mislabelled));
    expect(rejectionOf(() => makeVerifier([mislabelled])(token))).toEqual(
      invalid("alg_key_mismatch"),
    );
  });
});

describe("malformed ECDSA signatures", () => {
  const order = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
  const valid = signedToken(es256);
  const [header, payload, signature] = segmentsOf(valid);
  const validBytes = Buffer.from(signature, "base64url");
  const r = validBytes.subarray(0, 32);
  const s = validBytes.subarray(32);

  const scalar = (value: bigint) => Buffer.from(value.toString(16).padStart(64, "0"), "hex");
  const withSignature = (bytes: Buffer) => `${header}.${payload}.${bytes.toString("base64url")}`;
  const verify = makeVerifier([es256]);

  it("accepts the unmodified token", () => {
    expect(verify(valid).sub).toBe("user_123");
  });

  it.each([
    ["all zero", Buffer.alloc(64)],
    ["r = 0", Buffer.concat([scalar(0n), s])],
    ["s = 0", Buffer.concat([r, scalar(0n)])],
    ["r = n", Buffer.concat([scalar(order), s])],
    ["s = n", Buffer.concat([r, scalar(order)])],
    ["r = n + 1", Buffer.concat([scalar(order + 1n), s])],
    ["s = n + 1", Buffer.concat([r, scalar(order + 1n)])],
    ["r = 2^256 - 1", Buffer.concat([scalar(2n ** 256n - 1n), s])],
    ["s = 2^256 - 1", Buffer.concat([r, scalar(2n ** 256n - 1n)])],
    ["63 bytes", validBytes.subarray(0, 63)],
    ["65 bytes", Buffer.concat([validBytes, Buffer.from([0])])],
    ["72 bytes", Buffer.concat([validBytes, Buffer.alloc(8)])],
  ])("rejects a signature with %s", (_name, bytes) => {
    expect(rejectionOf(() => verify(withSignature(bytes)))).toEqual(invalid("signature_malformed"));
  });

  it("rejects a DER-encoded signature", () => {
    const data = Buffer.from(`${header}.${payload}`);
    const der = sign("sha256", data, {
      key: es256.signKey as NonNullable<SelloKey["signKey"]>,
      dsaEncoding: "der",
    });
    expect(rejectionOf(() => verify(withSignature(der)))).toEqual(invalid("signature_malformed"));
  });

  it.each([
    ["r = n - 1", Buffer.concat([scalar(order - 1n), s])],
    ["r = 1", Buffer.concat([scalar(1n), s])],
  ])("checks a signature with %s cryptographically", (_name, bytes) => {
    expect(rejectionOf(() => verify(withSignature(bytes)))).toEqual(invalid("signature_invalid"));
  });
});

describe("keys named in the token header", () => {
  let server: Server;
  let requests = 0;
  let baseUrl = "";
  const attackerJwks = JSON.stringify({
    keys: [{ ...attacker.verifyKey.export({ format: "jwk" }), kid: attacker.kid, alg: "ES256" }],
  });
  const attackerJwk = { ...attacker.verifyKey.export({ format: "jwk" }), kid: attacker.kid };
  const attackerCertificate = attacker.verifyKey
    .export({ type: "spki", format: "der" })
    .toString("base64");
  const verify = makeVerifier([es256]);
  const signByAttacker = (header: Record<string, unknown>) =>
    signedToken(attacker, { header: { typ: "at+jwt", alg: "ES256", ...header } });

  beforeAll(async () => {
    server = createServer((_request, response) => {
      requests++;
      response.writeHead(200, { "content-type": "application/json" });
      response.end(attackerJwks);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("serves the attacker JWKS to a direct request", async () => {
    const before = requests;
    const response = await fetch(`${baseUrl}/jwks.json`);
    expect(await response.json()).toEqual(JSON.parse(attackerJwks));
    expect(requests).toBe(before + 1);
    requests = before;
  });

  it("rejects an embedded jwk with the attacker's kid", () => {
    const token = signByAttacker({ kid: attacker.kid, jwk: attackerJwk });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("unknown_kid"));
  });

  it("rejects an embedded jwk without kid", () => {
    const token = signByAttacker({ jwk: attackerJwk });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
  });

  it("rejects an embedded jwk with the real kid", () => {
    const token = signByAttacker({ kid: es256.kid, jwk: attackerJwk });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
  });

  it("rejects jku pointing at the attacker JWKS", () => {
    const token = signByAttacker({ kid: attacker.kid, jku: `${baseUrl}/jwks.json` });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("unknown_kid"));
  });

  it("rejects jku with the real kid", () => {
    const token = signByAttacker({ kid: es256.kid, jku: `${baseUrl}/jwks.json` });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
  });

  it("rejects x5u pointing at the attacker server", () => {
    const token = signByAttacker({ kid: attacker.kid, x5u: `${baseUrl}/cert.pem` });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("unknown_kid"));
  });

  it("rejects x5c carrying the attacker key", () => {
    const token = signByAttacker({ kid: es256.kid, x5c: [attackerCertificate] });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
  });

  it("ignores these headers on a genuine token", () => {
    const header = accessHeader(es256, {
      jku: `${baseUrl}/jwks.json`,
      x5u: `${baseUrl}/cert.pem`,
      jwk: attackerJwk,
      x5c: [attackerCertificate],
    });
    expect(verify(signedToken(es256, { header })).sub).toBe("user_123");
  });

  it("never contacts the attacker server", async () => {
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(requests).toBe(0);
  });
});

describe("critical and unsupported header parameters", () => {
  const verify = makeVerifier([es256]);

  it.each([
    ["an empty crit", { crit: [] }],
    ['crit ["exp"]', { crit: ["exp"] }],
    ['crit ["b64"] with b64 false', { crit: ["b64"], b64: false }],
    ["crit that is not an array", { crit: "exp" }],
    ["crit null", { crit: null }],
  ])("rejects %s", (_name, extra) => {
    const token = signedToken(es256, { header: accessHeader(es256, extra) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("crit_unsupported"));
  });

  it("rejects b64 false", () => {
    const token = signedToken(es256, { header: accessHeader(es256, { b64: false }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("b64_unsupported"));
  });

  it("rejects b64 true", () => {
    const token = signedToken(es256, { header: accessHeader(es256, { b64: true }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("b64_unsupported"));
  });

  it('rejects zip "DEF"', () => {
    const token = signedToken(es256, { header: accessHeader(es256, { zip: "DEF" }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("zip_unsupported"));
  });
});

describe("tokens of other kinds", () => {
  const verify = makeVerifier([es256]);

  it("rejects a refresh-token-shaped opaque string", () => {
    expect(rejectionOf(() => verify(randomBytes(32).toString("base64url")))).toEqual(
      invalid("malformed"),
    );
  });

  it("rejects an ID token with typ JWT", () => {
    const token = signedToken(es256, { header: accessHeader(es256, { typ: "JWT" }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("typ_invalid"));
  });

  it("rejects a token without typ", () => {
    const token = signedToken(es256, { header: without(accessHeader(es256), "typ") });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("typ_invalid"));
  });

  it.each([
    "dpop+jwt",
    "application/jwt",
    "jwt",
    "at+jwt ",
    "application/at+jwt; charset=utf-8",
    "",
  ])("rejects typ %j", (typ) => {
    const token = signedToken(es256, { header: accessHeader(es256, { typ }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("typ_invalid"));
  });

  it("rejects a typ that is not a string", () => {
    const token = signedToken(es256, { header: accessHeader(es256, { typ: ["at+jwt"] }) });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("typ_invalid"));
  });

  it("rejects a JWE-shaped token", () => {
    const parts = [encodeSegment({ alg: "dir", enc: "A256GCM" }), "", "aXY", "Y2lwaGVy", "dGFn"];
    expect(rejectionOf(() => verify(parts.join(".")))).toEqual(invalid("malformed"));
  });
});
