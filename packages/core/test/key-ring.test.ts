import { describe, expect, it } from "vitest";
import { SelloError } from "../src/errors.js";
import { KeyRing, type KeyRingEntry } from "../src/node/key-ring.js";
import { generateKey, importKey } from "../src/node/keys.js";
import type { SelloKey } from "../src/node/types.js";

const T0 = Date.UTC(2025, 0, 1);

/** Creates a clock frozen at `start`, which a test moves by assigning to `now`. */
function frozenClock(start = T0): { now: number; clock: () => number } {
  const state = { now: start, clock: () => state.now };
  return state;
}

function current(key: SelloKey, createdAt = T0): KeyRingEntry {
  return { key, state: "current", createdAt, activatedAt: createdAt };
}

function expectTypeError(action: () => unknown, pattern: RegExp): void {
  expect(action).toThrow(TypeError);
  expect(action).toThrow(pattern);
}

describe("KeyRing empty", () => {
  it("getSigningKey throws no_signing_key", () => {
    const ring = new KeyRing();
    let caught: unknown;
    try {
      ring.getSigningKey();
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SelloError);
    expect((caught as SelloError).code).toBe("service_unavailable");
    expect((caught as SelloError).reason).toBe("no_signing_key");
  });

  it("has no keys", () => {
    const ring = new KeyRing();
    expect(ring.getOnlyKey()).toBeUndefined();
    expect(ring.getKey("missing")).toBeUndefined();
    expect(ring.publicJwks()).toEqual({ keys: [] });
    expect(ring.entries()).toEqual([]);
    expect(ring.prune()).toEqual([]);
  });

  it("first key added and promoted", () => {
    const time = frozenClock();
    const ring = new KeyRing([], { clock: time.clock });
    const key = generateKey("ES256");

    ring.addNext(key);
    expect(() => ring.getSigningKey()).toThrow(SelloError);

    time.now += 5_000;
    ring.promote(600);
    expect(ring.getSigningKey()).toBe(key);
    expect(ring.entries()).toEqual([
      { key, state: "current", createdAt: T0, activatedAt: T0 + 5_000 },
    ]);
  });
});

describe("KeyRing constructor", () => {
  it("single current key", () => {
    const key = generateKey("EdDSA");
    const ring = new KeyRing([current(key)]);
    expect(ring.getSigningKey()).toBe(key);
    expect(ring.getKey(key.kid)).toBe(key);
    expect(ring.getOnlyKey()).toBe(key);
  });

  it("two current keys rejected", () => {
    expectTypeError(
      () => new KeyRing([current(generateKey("ES256")), current(generateKey("ES256"))]),
      /exactly one current key, but the entries contain 2/,
    );
  });

  it("two next keys rejected", () => {
    const entries: KeyRingEntry[] = [
      { key: generateKey("ES256"), state: "next", createdAt: T0 },
      { key: generateKey("ES256"), state: "next", createdAt: T0 },
    ];
    expectTypeError(() => new KeyRing(entries), /at most one next key/);
  });

  it("duplicate kids rejected", () => {
    const key = generateKey("ES256");
    const retired: KeyRingEntry = { key, state: "retired", createdAt: T0, verifyUntil: T0 + 1 };
    expectTypeError(() => new KeyRing([current(key), retired]), /already contains a key with kid/);
  });

  it("retired without verifyUntil rejected", () => {
    const entry: KeyRingEntry = { key: generateKey("ES256"), state: "retired", createdAt: T0 };
    expectTypeError(() => new KeyRing([entry]), /retired but has no verifyUntil/);
  });

  it("verify-only current key rejected", () => {
    const publicOnly = importKey(generateKey("ES256").verifyKey, "ES256");
    expectTypeError(() => new KeyRing([current(publicOnly)]), /current but verify-only/);
  });

  it("verify-only retired key accepted", () => {
    const publicOnly = importKey(generateKey("ES256").verifyKey, "ES256");
    const ring = new KeyRing(
      [{ key: publicOnly, state: "retired", createdAt: T0, verifyUntil: T0 + 60_000 }],
      {
        clock: () => T0,
      },
    );
    expect(ring.getKey(publicOnly.kid)).toBe(publicOnly);
  });

  it("invalid state rejected", () => {
    const entry = {
      key: generateKey("ES256"),
      state: "active",
      createdAt: T0,
    } as unknown as KeyRingEntry;
    expectTypeError(
      () => new KeyRing([entry]),
      /state "active"; expected next, current or retired/,
    );
  });

  it("invalid times rejected", () => {
    const key = generateKey("ES256");
    expectTypeError(
      () => new KeyRing([{ ...current(key), createdAt: Number.NaN }]),
      /createdAt NaN/,
    );
    expectTypeError(
      () => new KeyRing([{ ...current(key), activatedAt: Number.POSITIVE_INFINITY }]),
      /activatedAt Infinity/,
    );
    expectTypeError(
      () => new KeyRing([{ ...current(key), createdAt: "2025" as unknown as number }]),
      /createdAt 2025; expected milliseconds/,
    );
  });

  it("invalid key rejected", () => {
    const entry = {
      key: { kid: "x", alg: "ES256" },
      state: "current",
      createdAt: T0,
    } as unknown as KeyRingEntry;
    expectTypeError(() => new KeyRing([entry]), /must be a SelloKey/);
  });

  it("non-array entries rejected", () => {
    expectTypeError(() => new KeyRing({} as unknown as KeyRingEntry[]), /entries must be an array/);
  });

  it("non-function clock rejected", () => {
    expectTypeError(
      () => new KeyRing([], { clock: 5 as unknown as () => number }),
      /clock must be a function/,
    );
  });

  it("entries are copied", () => {
    const key = generateKey("ES256");
    const entry = current(key);
    const ring = new KeyRing([entry]);
    entry.state = "retired";
    expect(ring.getSigningKey()).toBe(key);
  });

  it("ring without current key valid", () => {
    const next: KeyRingEntry = { key: generateKey("ES256"), state: "next", createdAt: T0 };
    const ring = new KeyRing([next]);
    expect(() => ring.getSigningKey()).toThrow(SelloError);
    expect(ring.getKey(next.key.kid)).toBe(next.key);
  });
});

describe("KeyRing addNext", () => {
  it("next key published but not signing", () => {
    const time = frozenClock();
    const signing = generateKey("ES256");
    const ring = new KeyRing([current(signing)], { clock: time.clock });
    const next = generateKey("ES256");

    time.now += 1_000;
    ring.addNext(next);

    expect(ring.getSigningKey()).toBe(signing);
    expect(ring.getKey(next.kid)).toBe(next);
    expect(ring.publicJwks().keys.map((jwk) => jwk.kid)).toEqual([signing.kid, next.kid]);
    expect(ring.entries()[1]).toEqual({ key: next, state: "next", createdAt: T0 + 1_000 });
    expect(ring.getOnlyKey()).toBeUndefined();
  });

  it("second next key rejected", () => {
    const ring = new KeyRing([current(generateKey("ES256"))]);
    ring.addNext(generateKey("ES256"));
    expectTypeError(() => ring.addNext(generateKey("ES256")), /already has a next key/);
  });

  it("duplicate kid rejected", () => {
    const key = generateKey("ES256");
    const ring = new KeyRing([current(key)]);
    expectTypeError(() => ring.addNext(key), /already contains a key with kid/);
  });

  it("verify-only key rejected", () => {
    const ring = new KeyRing([current(generateKey("ES256"))]);
    const publicOnly = importKey(generateKey("EdDSA").verifyKey, "EdDSA");
    expectTypeError(() => ring.addNext(publicOnly), /next but verify-only/);
  });
});

describe("KeyRing promote", () => {
  it("next becomes current", () => {
    const time = frozenClock();
    const oldKey = generateKey("ES256");
    const newKey = generateKey("ES256");
    const ring = new KeyRing([current(oldKey)], { clock: time.clock });
    ring.addNext(newKey);

    time.now = T0 + 10_000;
    ring.promote(900);

    expect(ring.getSigningKey()).toBe(newKey);
    expect(ring.entries()).toEqual([
      {
        key: oldKey,
        state: "retired",
        createdAt: T0,
        activatedAt: T0,
        retiredAt: T0 + 10_000,
        verifyUntil: T0 + 10_000 + 900_000,
      },
      { key: newKey, state: "current", createdAt: T0, activatedAt: T0 + 10_000 },
    ]);
  });

  it("retired key still verifies", () => {
    const time = frozenClock();
    const oldKey = generateKey("ES256");
    const ring = new KeyRing([current(oldKey)], { clock: time.clock });
    ring.addNext(generateKey("ES256"));
    ring.promote(600);

    expect(ring.getKey(oldKey.kid)).toBe(oldKey);
    expect(ring.publicJwks().keys.map((jwk) => jwk.kid)).toContain(oldKey.kid);
  });

  it("without next key rejected", () => {
    const ring = new KeyRing([current(generateKey("ES256"))]);
    expectTypeError(() => ring.promote(600), /no next key to promote/);
  });

  it("invalid lifetime rejected", () => {
    const ring = new KeyRing([current(generateKey("ES256"))]);
    ring.addNext(generateKey("ES256"));
    for (const lifetime of [-1, Number.NaN, Number.POSITIVE_INFINITY, "600" as unknown as number]) {
      expectTypeError(
        () => ring.promote(lifetime),
        /maxTokenLifetimeSeconds must be a finite number/,
      );
    }
    expect(ring.entries().map((entry) => entry.state)).toEqual(["current", "next"]);
  });

  it("zero lifetime retires at once", () => {
    const time = frozenClock();
    const oldKey = generateKey("ES256");
    const ring = new KeyRing([current(oldKey)], { clock: time.clock });
    ring.addNext(generateKey("ES256"));
    ring.promote(0);
    expect(ring.getKey(oldKey.kid)).toBeUndefined();
  });

  it("algorithm change by rotation", () => {
    const es256 = generateKey("ES256");
    const eddsa = generateKey("EdDSA");
    const ring = new KeyRing([current(es256)], { clock: () => T0 });
    ring.addNext(eddsa);
    ring.promote(600);

    expect(ring.getSigningKey().alg).toBe("EdDSA");
    expect(ring.getKey(es256.kid)?.alg).toBe("ES256");
    expect(ring.publicJwks().keys.map((jwk) => jwk.alg)).toEqual(["EdDSA", "ES256"]);
  });

  it("three rotations keep one current", () => {
    const time = frozenClock();
    const ring = new KeyRing([current(generateKey("ES256"))], { clock: time.clock });
    for (let i = 0; i < 3; i++) {
      ring.addNext(generateKey("ES256"));
      time.now += 1_000;
      ring.promote(60);
    }
    const states = ring.entries().map((entry) => entry.state);
    expect(states.filter((state) => state === "current")).toHaveLength(1);
    expect(states.filter((state) => state === "retired")).toHaveLength(3);
  });
});

describe("KeyRing expiry and prune", () => {
  function rotatedRing() {
    const time = frozenClock();
    const oldKey = generateKey("ES256");
    const newKey = generateKey("ES256");
    const ring = new KeyRing([current(oldKey)], { clock: time.clock });
    ring.addNext(newKey);
    ring.promote(600);
    const verifyUntil = T0 + 600_000;
    return { time, ring, oldKey, newKey, verifyUntil };
  }

  it("retired key verifies until just before verifyUntil", () => {
    const { time, ring, oldKey, verifyUntil } = rotatedRing();
    time.now = verifyUntil - 1;
    expect(ring.getKey(oldKey.kid)).toBe(oldKey);
    expect(ring.publicJwks().keys).toHaveLength(2);
  });

  it("retired key stops at exactly verifyUntil", () => {
    const { time, ring, oldKey, newKey, verifyUntil } = rotatedRing();
    time.now = verifyUntil;
    expect(ring.getKey(oldKey.kid)).toBeUndefined();
    expect(ring.publicJwks().keys.map((jwk) => jwk.kid)).toEqual([newKey.kid]);
    expect(ring.getOnlyKey()).toBe(newKey);
  });

  it("prune before verifyUntil removes nothing", () => {
    const { time, ring, verifyUntil } = rotatedRing();
    time.now = verifyUntil - 1;
    expect(ring.prune()).toEqual([]);
    expect(ring.entries()).toHaveLength(2);
  });

  it("prune at exactly verifyUntil removes key", () => {
    const { time, ring, oldKey, newKey, verifyUntil } = rotatedRing();
    time.now = verifyUntil;

    const removed = ring.prune();

    expect(removed.map((entry) => entry.key)).toEqual([oldKey]);
    expect(removed[0]?.state).toBe("retired");
    expect(ring.entries().map((entry) => entry.key)).toEqual([newKey]);
    expect(ring.getKey(oldKey.kid)).toBeUndefined();
    expect(ring.prune()).toEqual([]);
  });

  it("pruned kid can be added again", () => {
    const { time, ring, oldKey, verifyUntil } = rotatedRing();
    time.now = verifyUntil;
    ring.prune();
    ring.addNext(oldKey);
    expect(ring.getKey(oldKey.kid)).toBe(oldKey);
  });

  it("prune keeps next and current keys", () => {
    const time = frozenClock();
    const ring = new KeyRing([current(generateKey("ES256"))], { clock: time.clock });
    ring.addNext(generateKey("ES256"));
    time.now += 10 * 365 * 86_400_000;
    expect(ring.prune()).toEqual([]);
    expect(ring.entries()).toHaveLength(2);
  });
});

describe("KeyRing publicJwks", () => {
  it("orders current, next, retired", () => {
    const time = frozenClock();
    const retired = generateKey("ES256");
    const signing = generateKey("EdDSA");
    const next = generateKey("ES256");
    const ring = new KeyRing(
      [
        { key: retired, state: "retired", createdAt: T0, verifyUntil: T0 + 60_000 },
        { key: next, state: "next", createdAt: T0 },
        current(signing),
      ],
      { clock: time.clock },
    );
    expect(ring.publicJwks().keys.map((jwk) => jwk.kid)).toEqual([
      signing.kid,
      next.kid,
      retired.kid,
    ]);
  });

  it("HS256 keys never published", () => {
    const secret = generateKey("HS256");
    const ring = new KeyRing([current(secret)]);
    expect(ring.publicJwks()).toEqual({ keys: [] });
    expect(ring.getSigningKey()).toBe(secret);
    expect(ring.getKey(secret.kid)).toBe(secret);
  });

  it("no private members", () => {
    const ring = new KeyRing([current(generateKey("ES256"))]);
    ring.addNext(generateKey("EdDSA"));
    for (const jwk of ring.publicJwks().keys) {
      expect(jwk).not.toHaveProperty("d");
      expect(jwk.use).toBe("sig");
    }
  });
});

describe("KeyRing entries", () => {
  it("returns frozen copies", () => {
    const ring = new KeyRing([current(generateKey("ES256"))]);
    const [entry] = ring.entries();
    expect(Object.isFrozen(entry)).toBe(true);
    expect(() => {
      (entry as KeyRingEntry).state = "retired";
    }).toThrow(TypeError);
    expect(ring.entries()[0]?.state).toBe("current");
  });

  it("unknown kid returns undefined", () => {
    const ring = new KeyRing([current(generateKey("ES256"))]);
    expect(ring.getKey("unknown")).toBeUndefined();
    expect(ring.getKey("")).toBeUndefined();
  });
});
