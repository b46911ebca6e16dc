import { describe, expect, it } from "vitest";
import { SelloError } from "../src/errors.js";
import { createJwsVerifier } from "../src/node/jws.js";
import { createKeySet } from "../src/node/key-set.js";
import { createVerifier, type VerifierOptions } from "../src/node/verifier.js";
import { AUDIENCE, ISSUER, makeKey, signedToken } from "./helpers/token-forge.js";

const key = makeKey("ES256");
const valid: VerifierOptions = {
  algorithms: ["ES256"],
  keys: createKeySet([key]),
  issuer: ISSUER,
  audience: AUDIENCE,
};

/** Creates a verifier from the valid options with `changes` applied; undefined deletes. */
function create(changes: Record<string, unknown>) {
  const options: Record<string, unknown> = { ...valid };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) {
      delete options[name];
    } else {
      options[name] = value;
    }
  }
  return () => createVerifier(options as unknown as VerifierOptions);
}

describe("createVerifier options", () => {
  it("accepts the minimal valid options", () => {
    expect(typeof create({})()).toBe("function");
  });

  it.each([
    ["missing issuer", { issuer: undefined }, /issuer/],
    ["empty issuer", { issuer: "" }, /issuer/],
    ["non-string issuer", { issuer: 5 }, /issuer/],
    ["missing audience", { audience: undefined }, /audience/],
    ["empty audience string", { audience: "" }, /audience/],
    ["empty audience array", { audience: [] }, /audience/],
    ["audience array with an empty string", { audience: [AUDIENCE, ""] }, /audience/],
    ["audience array with a number", { audience: [AUDIENCE, 1] }, /audience/],
    ["missing algorithms", { algorithms: undefined }, /algorithms/],
    ["empty algorithms", { algorithms: [] }, /algorithms/],
    ["algorithms that is a string", { algorithms: "ES256" }, /algorithms/],
    ["unknown algorithm", { algorithms: ["ES384"] }, /algorithms/],
    ['"none" in algorithms', { algorithms: ["ES256", "none"] }, /algorithms/],
    ["lower-case algorithm", { algorithms: ["es256"] }, /algorithms/],
    ["missing keys", { keys: undefined }, /keys/],
    ["keys without getOnlyKey", { keys: { getKey: () => undefined } }, /keys/],
    ["clockTolerance of 61", { clockTolerance: 61 }, /clockTolerance/],
    ['clockTolerance of "2m"', { clockTolerance: "2m" }, /clockTolerance/],
    ["clockTolerance of NaN", { clockTolerance: Number.NaN }, /clockTolerance/],
    ["clockTolerance of -1", { clockTolerance: -1 }, /clockTolerance/],
    ["clockTolerance of Infinity", { clockTolerance: Number.POSITIVE_INFINITY }, /clockTolerance/],
    ['clockTolerance of "soon"', { clockTolerance: "soon" }, /clockTolerance/],
    ["clock that is not a function", { clock: 5 }, /clock/],
    ["cache true", { cache: true }, /cache/],
    ["cache maxEntries of 0", { cache: { maxEntries: 0 } }, /maxEntries/],
    ["cache maxEntries of 1.5", { cache: { maxEntries: 1.5 } }, /maxEntries/],
    ["maxTokenLength of 0", { maxTokenLength: 0 }, /maxTokenLength/],
    ["maxTokenLength of 100.5", { maxTokenLength: 100.5 }, /maxTokenLength/],
  ])("rejects %s with a TypeError", (_name, changes, pattern) => {
    const build = create(changes);
    expect(build).toThrow(TypeError);
    expect(build).toThrow(pattern);
  });

  it("rejects options that are not an object", () => {
    expect(() => createVerifier(null as unknown as VerifierOptions)).toThrow(TypeError);
  });

  it.each([
    ["clockTolerance of 60", { clockTolerance: 60 }],
    ['clockTolerance of "5s"', { clockTolerance: "5s" }],
    ["clockTolerance of 0", { clockTolerance: 0 }],
    ["cache false", { cache: false }],
    ["cache with defaults", { cache: {} }],
    ["every algorithm", { algorithms: ["ES256", "EdDSA", "RS256", "PS256", "HS256"] }],
  ])("accepts %s", (_name, changes) => {
    expect(typeof create(changes)()).toBe("function");
  });

  it("does not echo a long configuration string", () => {
    const secret = "s3cr3t-value-that-must-not-appear-in-messages-xxxxxxxxxxxx";
    expect(create({ algorithms: [secret] })).toThrow(/a string of \d+ characters/);
  });
});

describe("createJwsVerifier options", () => {
  it("rejects missing algorithms", () => {
    expect(() =>
      createJwsVerifier({ keys: createKeySet([key]) } as unknown as Parameters<
        typeof createJwsVerifier
      >[0]),
    ).toThrow(TypeError);
  });

  it("rejects a missing key source", () => {
    expect(() =>
      createJwsVerifier({ algorithms: ["ES256"] } as unknown as Parameters<
        typeof createJwsVerifier
      >[0]),
    ).toThrow(/keys/);
  });
});

describe("clock", () => {
  it("fails closed on a non-finite clock", () => {
    const verify = createVerifier({ ...valid, clock: () => Number.NaN });
    let error: unknown;
    try {
      verify(signedToken(key));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SelloError);
    expect((error as SelloError).code).toBe("internal_error");
    expect((error as SelloError).reason).toBe("clock_invalid");
  });

  it("defaults to Date.now", () => {
    const now = Math.floor(Date.now() / 1000);
    const verify = createVerifier(valid);
    const token = signedToken(key, {
      payload: {
        iss: ISSUER,
        aud: AUDIENCE,
        sub: "u",
        jti: "j",
        client_id: "c",
        iat: now,
        exp: now + 60,
      },
    });
    expect(verify(token).sub).toBe("u");
  });
});
