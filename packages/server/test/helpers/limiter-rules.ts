import { expect, it } from "vitest";
import {
  createLoginLimiter,
  type LimiterStore,
  type LoginLimiterOptions,
} from "../../src/login-limiter.js";

/** The frozen start time of every limiter test, in milliseconds since the epoch. */
export const START = Date.UTC(2025, 0, 1);
export const IP = "203.0.113.7";

export function frozenClock(): { clock: () => number; advance: (ms: number) => void } {
  let now = START;
  return {
    clock: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

/** Records `times` failed logins for one address and account. */
export async function fail(
  limiter: ReturnType<typeof createLoginLimiter>,
  times: number,
  ip = IP,
  account = "alice",
): Promise<void> {
  for (let attempt = 0; attempt < times; attempt += 1) {
    await limiter.recordFailure(ip, account);
  }
}

/**
 * Registers the login-limit rules that every LimiterStore must produce, as tests of the enclosing
 * describe block. `newStore` returns an empty store that no other test uses.
 */
export function itFollowsLoginLimitRules(newStore: () => LimiterStore): void {
  function setup(options: Partial<LoginLimiterOptions> = {}) {
    const time = frozenClock();
    const store = newStore();
    const limiter = createLoginLimiter({ clock: time.clock, store, ...options });
    return { limiter, store, advance: time.advance };
  }

  it("lets the first five failures through", async () => {
    const { limiter } = setup();

    for (let attempt = 1; attempt <= 5; attempt += 1) {
      await expect(limiter.check(IP, "alice"), `attempt ${attempt}`).resolves.toEqual({
        allowed: true,
      });
      await limiter.recordFailure(IP, "alice");
    }

    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 1,
    });
  });

  it("doubles the delay after each extra failure", async () => {
    const { limiter, advance } = setup();
    await fail(limiter, 5);

    for (const delaySeconds of [1, 2, 4, 8, 16, 32, 64]) {
      await expect(limiter.check(IP, "alice")).resolves.toEqual({
        allowed: false,
        retryAfterSeconds: delaySeconds,
      });

      advance(delaySeconds * 1000 - 1);
      expect((await limiter.check(IP, "alice")).allowed, `${delaySeconds} s - 1 ms`).toBe(false);

      advance(1);
      expect((await limiter.check(IP, "alice")).allowed, `${delaySeconds} s`).toBe(true);
      await limiter.recordFailure(IP, "alice");
    }
  });

  it("counts the delay from the latest failure", async () => {
    const { limiter, advance } = setup();
    await fail(limiter, 5);
    advance(10_000);
    await limiter.recordFailure(IP, "alice");

    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 2,
    });
  });

  it("rounds the wait up to whole seconds", async () => {
    const { limiter, advance } = setup();
    await fail(limiter, 7);

    advance(2_500);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 2,
    });

    advance(1_499);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 1,
    });
  });

  it("caps the delay at the window length", async () => {
    const { limiter } = setup({ windowSeconds: 60, maxAttemptsPerIp: 100 });
    await fail(limiter, 5 + 5);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 32,
    });

    await fail(limiter, 1);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 60,
    });

    await fail(limiter, 40);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 60,
    });
  });

  it("caps failures per address across accounts", async () => {
    const { limiter, advance } = setup();
    for (let account = 0; account < 20; account += 1) {
      expect((await limiter.check(IP, `user${account}`)).allowed).toBe(true);
      await limiter.recordFailure(IP, `user${account}`);
      advance(1_000);
    }

    await expect(limiter.check(IP, "someone-new")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 900 - 20,
    });
    expect((await limiter.check("198.51.100.1", "someone-new")).allowed).toBe(true);

    // The oldest failure leaves the window 900 s after it happened.
    advance((900 - 20) * 1000 - 1);
    expect((await limiter.check(IP, "someone-new")).allowed).toBe(false);
    advance(1);
    expect((await limiter.check(IP, "someone-new")).allowed).toBe(true);
  });

  it("counts an IPv6 /64 as one address", async () => {
    const { limiter } = setup({ maxAttemptsPerIp: 3, maxAttemptsPerAccount: 100 });
    await limiter.recordFailure("2001:db8:0:5::1", "alice");
    await limiter.recordFailure("2001:0db8:0000:0005:ffff:1:2:3", "bob");
    await limiter.recordFailure("2001:DB8:0:5:abcd::9%eth0", "carol");

    expect((await limiter.check("2001:db8:0:5::42", "dave")).allowed).toBe(false);
    expect((await limiter.check("2001:db8:0:6::1", "dave")).allowed).toBe(true);
    expect((await limiter.check("2001:db8::5:0:0:1", "dave")).allowed).toBe(true);
  });

  it("counts IPv4-mapped addresses as IPv4", async () => {
    const { limiter } = setup({ maxAttemptsPerIp: 2, maxAttemptsPerAccount: 100 });
    await limiter.recordFailure("::ffff:192.0.2.10", "alice");
    await limiter.recordFailure("::ffff:c000:20a", "bob");

    expect((await limiter.check("192.0.2.10", "carol")).allowed).toBe(false);
    expect((await limiter.check("192.0.2.11", "carol")).allowed).toBe(true);
    expect((await limiter.check("::ffff:192.0.2.11", "carol")).allowed).toBe(true);
    expect((await limiter.check("::1", "carol")).allowed).toBe(true);
  });

  it("forgets failures once the window passes", async () => {
    const { limiter, store, advance } = setup();
    await fail(limiter, 9);
    expect((await limiter.check(IP, "alice")).allowed).toBe(false);

    advance(900 * 1000);
    expect(await limiter.check(IP, "alice")).toEqual({ allowed: true });
    expect(await store.get("account:alice", START + 900 * 1000)).toBe(0);

    await fail(limiter, 4);
    expect((await limiter.check(IP, "alice")).allowed).toBe(true);
  });

  it("slides the window one failure at a time", async () => {
    const { limiter, advance } = setup();
    await fail(limiter, 5);
    advance(600_000);
    await fail(limiter, 1);
    advance(100_000);
    expect((await limiter.check(IP, "alice")).allowed).toBe(true);

    // Seven failures are in the window until the first five expire at 900 s.
    await fail(limiter, 1);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 4,
    });
    advance(200_000);
    await fail(limiter, 1);
    await expect(limiter.check(IP, "alice")).resolves.toEqual({ allowed: true });
  });

  it("clears the account but not the address on success", async () => {
    const { limiter } = setup();
    await fail(limiter, 7, IP, "alice");
    await fail(limiter, 12, IP, "bob");
    expect((await limiter.check(IP, "alice")).allowed).toBe(false);

    await limiter.recordSuccess(IP, "alice");
    expect(await limiter.check(IP, "alice")).toEqual({ allowed: true });
    expect((await limiter.check(IP, "bob")).allowed).toBe(false);

    // 19 failures remain on the address, so one more reaches the cap of 20.
    await limiter.recordFailure(IP, "alice");
    await expect(limiter.check(IP, "carol")).resolves.toEqual({
      allowed: false,
      retryAfterSeconds: 900,
    });
  });

  it("limits an account across addresses", async () => {
    const { limiter } = setup();
    for (let host = 1; host <= 5; host += 1) {
      await limiter.recordFailure(`198.51.100.${host}`, "alice");
    }
    expect((await limiter.check("198.51.100.99", "alice")).allowed).toBe(false);
  });

  it("answers alike for any account name", async () => {
    const { limiter } = setup();
    await fail(limiter, 6, IP, "alice");
    await fail(limiter, 6, "198.51.100.1", "no-such-user");

    expect(await limiter.check(IP, "alice")).toEqual(
      await limiter.check("198.51.100.1", "no-such-user"),
    );
  });
}
