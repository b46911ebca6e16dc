import { createGuard } from "@sello/guard";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, request } from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

const MINUTE = 60_000;

/**
 * A whole key rotation on a frozen clock: a guard that knows the keys only through the server's
 * JWKS URL must accept every unexpired token, old key and new, at every step.
 */
describe("key rotation seen by a remote guard", () => {
  let running: RunningServer;
  let fetches = 0;

  beforeAll(async () => {
    running = await startServer({ SELLO_KEY_PROPAGATION_DELAY: "15m", SELLO_ACCESS_TTL: "10m" });
    await addUser(running, "rotation-user", "rotation password 1");
  });

  afterAll(async () => {
    await running.stop();
  });

  async function publishedKids(): Promise<string[]> {
    const jwks = await request<{ keys: { kid: string }[] }>(`${running.url}/.well-known/jwks.json`);
    return jwks.body.keys.map((key) => key.kid);
  }

  async function issue(): Promise<{ token: string; kid: string; expiresAt: number }> {
    const { accessToken, response } = await login(
      running.url,
      "rotation-user",
      "rotation password 1",
    );
    expect(response.status).toBe(200);
    const header = JSON.parse(
      Buffer.from(accessToken.split(".")[0] as string, "base64url").toString(),
    );
    return {
      token: accessToken,
      kid: header.kid,
      expiresAt: running.clock.now + response.body.expires_in * 1000,
    };
  }

  it("keeps verifying old and new tokens through a whole rotation", async () => {
    const guard = createGuard({
      issuer: running.server.config.publicUrl,
      audience: running.server.config.audience,
      algorithms: ["ES256"],
      jwksUri: `${running.url}/.well-known/jwks.json`,
      jwksMaxAge: "10m",
      jwksCooldown: "30s",
      revocation: false,
      cache: false,
      clock: running.clock,
      fetch: async (input, init) => {
        fetches += 1;
        return fetch(input, init);
      },
    });
    const tokens: { token: string; kid: string; expiresAt: number }[] = [];

    async function expectLiveTokensAccepted(step: string): Promise<void> {
      const kids = await publishedKids();
      for (const entry of tokens.filter((candidate) => candidate.expiresAt > running.clock.now)) {
        expect(kids, `${step}: the JWKS still publishes ${entry.kid}`).toContain(entry.kid);
        const claims = await guard.verify(entry.token);
        expect(claims.sub, step).toBeTypeOf("string");
      }
    }

    // Key A signs.
    const first = await issue();
    tokens.push(first);
    await expectLiveTokensAccepted("before the rotation");
    expect(fetches).toBe(1);

    // Key B is published at once but does not sign yet.
    const rotation = await running.server.keys.rotate();
    expect(await publishedKids()).toEqual([first.kid, rotation.kid]);
    expect(running.server.keys.getSigningKey().kid).toBe(first.kid);

    // Past the guard's JWKS cache age: it refetches and learns B before any token uses it.
    running.clock.now += 11 * MINUTE;
    await running.server.keys.tick();
    const second = await issue();
    expect(second.kid).toBe(first.kid);
    tokens.push(second);
    await expectLiveTokensAccepted("while the new key propagates");

    // Past the propagation delay: B signs, and A still verifies the tokens it signed.
    running.clock.now += 5 * MINUTE;
    await running.server.keys.tick();
    expect(running.server.keys.getSigningKey().kid).toBe(rotation.kid);
    const third = await issue();
    expect(third.kid).toBe(rotation.kid);
    tokens.push(third);
    await expectLiveTokensAccepted("after the new key starts signing");
    expect(await publishedKids()).toContain(first.kid);

    // Once every token A signed has expired, A leaves the JWKS.
    running.clock.now += 11 * MINUTE;
    await running.server.keys.tick();
    expect(await publishedKids()).toEqual([rotation.kid]);
    const fourth = await issue();
    tokens.push(fourth);
    await expectLiveTokensAccepted("after the old key is removed");

    // The guard fetched the JWKS a handful of times in all, never once per token.
    expect(fetches).toBeLessThanOrEqual(4);
  });
});
