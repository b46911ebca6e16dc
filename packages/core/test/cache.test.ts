import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import type { AccessTokenClaims } from "../src/claims.js";
import { AdmissionFilter, CACHE_KEY_LENGTH, VerificationCache } from "../src/node/cache.js";
import { createKeySet } from "../src/node/key-set.js";
import type { KeySource, SelloKey } from "../src/node/types.js";
import { createVerifier } from "../src/node/verifier.js";
import {
  AUDIENCE,
  accessClaims,
  accessHeader,
  ISSUER,
  invalid,
  makeKey,
  NOW,
  rejectionOf,
  signedToken,
  without,
} from "./helpers/token-forge.js";

const TOLERANCE = 5;
const key = makeKey("ES256");
const replacement = makeKey("ES256");
const expired = { code: "token_expired", reason: "expired" };

/** Creates a key source whose keys a test can swap. */
function mutableKeySource(initial: SelloKey[]): KeySource & { keys: Map<string, SelloKey> } {
  const keys = new Map(initial.map((entry) => [entry.kid, entry]));
  return {
    keys,
    getKey: (kid) => keys.get(kid),
    getOnlyKey: () => (keys.size === 1 ? [...keys.values()][0] : undefined),
  };
}

/** Creates a cached verifier over `source` with a frozen clock (milliseconds) that tests can set. */
function cachedVerifier(source: KeySource, maxEntries?: number) {
  const clock = { now: NOW * 1000 };
  const verify = createVerifier({
    algorithms: ["ES256"],
    keys: source,
    issuer: ISSUER,
    audience: AUDIENCE,
    clockTolerance: TOLERANCE,
    clock: () => clock.now,
    cache: maxEntries === undefined ? {} : { maxEntries },
  });
  return { verify, clock };
}

/**
 * Verifies a token twice, so that the cache stores it, and returns the stored claims. The cache
 * admits a token on its second verification.
 */
function admit(verify: (token: string) => AccessTokenClaims, token: string): AccessTokenClaims {
  verify(token);
  return verify(token);
}

describe("verification cache expiry", () => {
  const exp = NOW + 60;
  const token = signedToken(key, { payload: accessClaims({ exp }) });

  it("returns the cached claims object on a hit", () => {
    const { verify } = cachedVerifier(createKeySet([key]));
    const stored = admit(verify, token);
    expect(verify(token)).toBe(stored);
  });

  it("accepts 1 ms before exp plus tolerance", () => {
    const { verify, clock } = cachedVerifier(createKeySet([key]));
    const first = admit(verify, token);
    clock.now = (exp + TOLERANCE) * 1000 - 1;
    expect(verify(token)).toBe(first);
  });

  it("rejects at exactly exp plus tolerance", () => {
    const { verify, clock } = cachedVerifier(createKeySet([key]));
    verify(token);
    clock.now = (exp + TOLERANCE) * 1000;
    expect(rejectionOf(() => verify(token))).toEqual(expired);
  });

  it("rejects after exp plus tolerance", () => {
    const { verify, clock } = cachedVerifier(createKeySet([key]));
    verify(token);
    clock.now = (exp + TOLERANCE) * 1000 + 3_600_000;
    expect(rejectionOf(() => verify(token))).toEqual(expired);
  });

  it("verifies afresh after dropping an expired entry", () => {
    const { verify, clock } = cachedVerifier(createKeySet([key]));
    verify(token);
    clock.now = (exp + TOLERANCE) * 1000;
    rejectionOf(() => verify(token));
    clock.now = NOW * 1000;
    expect(verify(token).exp).toBe(exp);
  });

  it("expires an old token at exp plus tolerance", () => {
    const old = signedToken(key, { payload: accessClaims({ exp, iat: NOW - 86_400 }) });
    const { verify, clock } = cachedVerifier(createKeySet([key]));
    verify(old);
    clock.now = (exp + TOLERANCE) * 1000 - 1;
    expect(verify(old).iat).toBe(NOW - 86_400);
    clock.now = (exp + TOLERANCE) * 1000;
    expect(rejectionOf(() => verify(old))).toEqual(expired);
  });

  it("never caches a token without iat", () => {
    const noIat = signedToken(key, { payload: without(accessClaims({ exp }), "iat") });
    const { verify } = cachedVerifier(createKeySet([key]));
    expect(rejectionOf(() => verify(noIat))).toEqual(invalid("claim_invalid"));
    expect(rejectionOf(() => verify(noIat))).toEqual(invalid("claim_invalid"));
  });
});

describe("verification cache not-before", () => {
  const nbf = NOW + 3;
  const token = signedToken(key, { payload: accessClaims({ nbf, iat: NOW - 10 }) });

  it("accepts at exactly nbf minus tolerance", () => {
    const { verify, clock } = cachedVerifier(createKeySet([key]));
    const first = admit(verify, token);
    clock.now = (nbf - TOLERANCE) * 1000;
    expect(verify(token)).toBe(first);
  });

  it("rejects 1 ms before nbf minus tolerance", () => {
    const { verify, clock } = cachedVerifier(createKeySet([key]));
    verify(token);
    clock.now = (nbf - TOLERANCE) * 1000 - 1;
    expect(rejectionOf(() => verify(token))).toEqual(invalid("not_yet_valid"));
  });

  it("rejects cached iat after the clock moves back", () => {
    const recent = signedToken(key, { payload: accessClaims({ iat: NOW }) });
    const { verify, clock } = cachedVerifier(createKeySet([key]));
    verify(recent);
    clock.now = (NOW - TOLERANCE - 1) * 1000;
    expect(rejectionOf(() => verify(recent))).toEqual(invalid("iat_in_future"));
  });
});

describe("verification cache keys", () => {
  it("rejects a hit after the key is removed", () => {
    const source = mutableKeySource([key]);
    const { verify } = cachedVerifier(source);
    const token = signedToken(key);
    verify(token);
    source.keys.delete(key.kid);
    expect(rejectionOf(() => verify(token))).toEqual(invalid("unknown_kid"));
  });

  it("rejects a hit after the key is replaced", () => {
    const source = mutableKeySource([key]);
    const { verify } = cachedVerifier(source);
    const token = signedToken(key);
    verify(token);
    source.keys.set(key.kid, { ...replacement, kid: key.kid });
    expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
  });

  it("accepts again once the key returns", () => {
    const source = mutableKeySource([key]);
    const { verify } = cachedVerifier(source);
    const token = signedToken(key);
    verify(token);
    source.keys.delete(key.kid);
    rejectionOf(() => verify(token));
    source.keys.set(key.kid, key);
    expect(verify(token).sub).toBe("user_123");
  });

  it("rejects a kid-less hit with two keys", () => {
    const source = mutableKeySource([key]);
    const { verify } = cachedVerifier(source);
    const token = signedToken(key, { header: without(accessHeader(key), "kid") });
    verify(token);
    source.keys.set(replacement.kid, replacement);
    expect(rejectionOf(() => verify(token))).toEqual(invalid("kid_required"));
  });

  it("looks the key up on every hit", () => {
    const source = createKeySet([key]);
    const getKey = vi.spyOn(source, "getKey");
    const { verify } = cachedVerifier(source);
    const token = signedToken(key);
    verify(token);
    verify(token);
    verify(token);
    expect(getKey).toHaveBeenCalledTimes(3);
  });
});

describe("verification cache failures", () => {
  it("does not cache a rejection", () => {
    const nbf = NOW + 60;
    const token = signedToken(key, { payload: accessClaims({ nbf }) });
    const { verify, clock } = cachedVerifier(createKeySet([key]));
    expect(rejectionOf(() => verify(token))).toEqual(invalid("not_yet_valid"));
    clock.now = nbf * 1000;
    expect(verify(token).nbf).toBe(nbf);
  });

  it("does not cache an unknown kid", () => {
    const source = mutableKeySource([replacement]);
    const { verify } = cachedVerifier(source);
    const token = signedToken(key);
    expect(rejectionOf(() => verify(token))).toEqual(invalid("unknown_kid"));
    source.keys.set(key.kid, key);
    expect(verify(token).sub).toBe("user_123");
  });

  it("rechecks a bad signature on every call", () => {
    const source = createKeySet([key]);
    const getKey = vi.spyOn(source, "getKey");
    const { verify } = cachedVerifier(source);
    const token = `${signedToken(key).slice(0, -4)}AAAA`;
    expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
    expect(rejectionOf(() => verify(token))).toEqual(invalid("signature_invalid"));
    expect(getKey).toHaveBeenCalledTimes(2);
  });
});

describe("verification cache bound", () => {
  const tokens = ["a", "b", "c"].map((jti) => signedToken(key, { payload: accessClaims({ jti }) }));
  const [first, second, third] = tokens as [string, string, string];

  it("evicts the least recently used token", () => {
    const { verify } = cachedVerifier(createKeySet([key]), 2);
    const claimsA = admit(verify, first);
    admit(verify, second);
    admit(verify, third);
    expect(verify(first)).not.toBe(claimsA);
  });

  it("keeps a token that was used recently", () => {
    const { verify } = cachedVerifier(createKeySet([key]), 2);
    const claimsA = admit(verify, first);
    const claimsB = admit(verify, second);
    verify(first);
    admit(verify, third);
    expect(verify(first)).toBe(claimsA);
    expect(verify(second)).not.toBe(claimsB);
  });

  it("freezes claims with a cache, stored or not", () => {
    const { verify } = cachedVerifier(createKeySet([key]));
    const once = verify(first);
    expect(Object.isFrozen(once)).toBe(true);
    expect(Object.isFrozen(once.roles)).toBe(true);
    const stored = verify(first);
    expect(Object.isFrozen(stored)).toBe(true);
    expect(Object.isFrozen(stored.permissions)).toBe(true);
  });
});

describe("verification cache admission", () => {
  const tokens = ["a", "b", "c", "d"].map((jti) =>
    signedToken(key, { payload: accessClaims({ jti }) }),
  );
  const [first, second, third, fourth] = tokens as [string, string, string, string];

  it("stores a token on its second verification", () => {
    const { verify } = cachedVerifier(createKeySet([key]));
    const once = verify(first);
    const twice = verify(first);
    expect(twice).not.toBe(once);
    expect(verify(first)).toBe(twice);
  });

  it("forgets a token after the window", () => {
    const { verify } = cachedVerifier(createKeySet([key]), 2);
    verify(first);
    verify(second);
    verify(third);
    verify(fourth);
    // Four other verifications later, the first token counts as new again.
    const once = verify(first);
    const twice = verify(first);
    expect(twice).not.toBe(once);
    expect(verify(first)).toBe(twice);
  });
});

describe("AdmissionFilter", () => {
  // Distinct low bits keep these tags in distinct slots of the smallest table.
  const tag = (slot: number) => ((slot << 20) | slot) >>> 0;

  it("admits a tag recorded within the window", () => {
    const filter = new AdmissionFilter(4);
    expect(filter.admits(tag(1))).toBe(false);
    expect(filter.admits(tag(2))).toBe(false);
    expect(filter.admits(tag(1))).toBe(true);
  });

  it("remembers a tag for one window", () => {
    const filter = new AdmissionFilter(4);
    filter.admits(tag(1));
    for (let slot = 2; slot <= 4; slot++) {
      filter.admits(tag(slot));
    }
    expect(filter.admits(tag(1))).toBe(true);
  });

  it("forgets a tag after twice the window", () => {
    const filter = new AdmissionFilter(4);
    filter.admits(tag(1));
    for (let slot = 2; slot <= 8; slot++) {
      filter.admits(tag(slot));
    }
    expect(filter.admits(tag(1))).toBe(false);
    expect(filter.admits(tag(1))).toBe(true);
  });

  it("tells apart tags that share a slot", () => {
    const filter = new AdmissionFilter(4);
    filter.admits(tag(3));
    expect(filter.admits((tag(3) ^ (1 << 30)) >>> 0)).toBe(false);
  });

  it("admits boundary tags like others", () => {
    const filter = new AdmissionFilter(4);
    expect(filter.admits(0)).toBe(false);
    expect(filter.admits(0)).toBe(true);
    expect(filter.admits(0xffffffff)).toBe(false);
    expect(filter.admits(0xffffffff)).toBe(true);
  });

  it.each([0, -1, 1.5, Number.NaN])("rejects window %s", (window) => {
    expect(() => new AdmissionFilter(window)).toThrow(TypeError);
  });
});

describe("VerificationCache", () => {
  const entry = (jti: string) => ({
    claims: { jti } as unknown as AccessTokenClaims,
    key,
    kid: key.kid,
  });

  it("holds at most maxEntries tokens", () => {
    const cache = new VerificationCache(3);
    for (let index = 0; index < 10; index++) {
      cache.set(`token-${index}`, entry(String(index)));
    }
    expect(cache.size).toBe(3);
    expect(cache.get("token-6")).toBeUndefined();
    expect(cache.get("token-9")?.claims.jti).toBe("9");
  });

  it("moves an entry to most recently used on get", () => {
    const cache = new VerificationCache(2);
    cache.set("a", entry("a"));
    cache.set("b", entry("b"));
    cache.get("a");
    cache.set("c", entry("c"));
    expect(cache.get("a")).toBeDefined();
    expect(cache.get("b")).toBeUndefined();
  });

  it("replaces an entry without growing", () => {
    const cache = new VerificationCache(2);
    cache.set("a", entry("1"));
    cache.set("a", entry("2"));
    expect(cache.size).toBe(1);
    expect(cache.get("a")?.claims.jti).toBe("2");
  });

  it("deletes and clears entries", () => {
    const cache = new VerificationCache(2);
    cache.set("a", entry("a"));
    cache.set("b", entry("b"));
    cache.delete("a");
    expect(cache.size).toBe(1);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it("separates tokens sharing a tail", () => {
    const tail = "x".repeat(CACHE_KEY_LENGTH);
    const cache = new VerificationCache(4);
    cache.set(`one.${tail}`, entry("1"));
    expect(cache.get(`two.${tail}`)).toBeUndefined();
    cache.delete(`two.${tail}`);
    expect(cache.get(`one.${tail}`)?.claims.jti).toBe("1");

    cache.set(`two.${tail}`, entry("2"));
    expect(cache.size).toBe(1);
    expect(cache.get(`one.${tail}`)).toBeUndefined();
    expect(cache.get(`two.${tail}`)?.claims.jti).toBe("2");
  });

  it("defaults to 10,000 entries", () => {
    expect(new VerificationCache().maxEntries).toBe(10_000);
  });

  it.each([0, -1, 1.5, Number.NaN])("rejects maxEntries %s", (maxEntries) => {
    expect(() => new VerificationCache(maxEntries)).toThrow(TypeError);
  });

  it("behaves like a reference LRU under any sequence of operations", () => {
    type Operation =
      | { kind: "get"; token: number }
      | { kind: "delete"; token: number }
      | { kind: "set"; token: number; value: number }
      | { kind: "clear" };
    const operation: fc.Arbitrary<Operation> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant("get" as const), token: fc.nat(7) }) },
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant("set" as const),
          token: fc.nat(7),
          value: fc.nat(),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({ kind: fc.constant("delete" as const), token: fc.nat(7) }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: "clear" as const }) },
    );

    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(operation, { maxLength: 60 }),
        (max, operations) => {
          const cache = new VerificationCache(max);
          // The reference keeps the least recently used token first.
          const reference = new Map<string, string>();
          for (const op of operations) {
            if (op.kind === "clear") {
              cache.clear();
              reference.clear();
              continue;
            }
            const token = `token-${op.token}`;
            if (op.kind === "get") {
              const expected = reference.get(token);
              if (expected !== undefined) {
                reference.delete(token);
                reference.set(token, expected);
              }
              expect(cache.get(token)?.claims.jti).toBe(expected);
            } else if (op.kind === "delete") {
              cache.delete(token);
              reference.delete(token);
            } else {
              cache.set(token, entry(String(op.value)));
              reference.delete(token);
              if (reference.size >= max) {
                reference.delete(reference.keys().next().value as string);
              }
              reference.set(token, String(op.value));
            }
            expect(cache.size).toBe(reference.size);
          }
          // Every stored token is still found, with its latest entry.
          for (const [token, jti] of [...reference]) {
            expect(cache.get(token)?.claims.jti).toBe(jti);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("keeps a hot token's hits cheap in a full cache", () => {
    // Moving a hit to the end of a Map by deleting and re-adding it slows every later lookup of
    // that token until the Map rehashes. This cache never writes to its Map on a hit.
    const cache = new VerificationCache(10_000);
    for (let index = 0; index < 20_000; index++) {
      cache.set(`token-${index}`, entry(String(index)));
    }
    const hot = "token-19999";
    for (let index = 0; index < 50_000; index++) {
      expect(cache.get(hot)).toBeDefined();
    }
    expect(cache.size).toBe(10_000);
    expect(cache.get("token-10000")?.claims.jti).toBe("10000");
    expect(cache.get("token-9999")).toBeUndefined();
  });
});
