import { SelloError } from "@sello/core";
import { generateKey, type SelloKey, toPublicJwks } from "@sello/core/node";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  createJwksSource,
  type JwksSourceOptions,
  type RemoteJwksSource,
} from "../src/jwks-source.js";
import { JwksStub } from "./helpers/jwks-stub.js";
import { FrozenClock } from "./helpers/tokens.js";

let keyA: SelloKey;
let keyB: SelloKey;
let edKey: SelloKey;

beforeAll(() => {
  keyA = generateKey("ES256");
  keyB = generateKey("ES256");
  edKey = generateKey("EdDSA");
});

/** A fetch stand-in that serves a configurable JWKS and records each call. */
class FakeFetch {
  keys: SelloKey[] = [];
  status = 200;
  headers: Record<string, string> = {};
  body: string | undefined;
  error: Error | undefined;
  /** When set, each call waits for this promise before responding. */
  gate: Promise<void> | undefined;
  readonly calls: { url: string; init: RequestInit | undefined }[] = [];

  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    this.calls.push({ url: String(input), init });
    await this.gate;
    if (this.error !== undefined) {
      throw this.error;
    }
    const body = this.body ?? JSON.stringify(toPublicJwks(this.keys));
    return new Response(body, { status: this.status, headers: this.headers });
  };
}

function makeSource(
  fake: FakeFetch,
  clock: FrozenClock,
  options: Partial<JwksSourceOptions> = {},
): RemoteJwksSource {
  return createJwksSource({
    uri: "https://auth.example.com/.well-known/jwks.json",
    fetch: fake.fetch as typeof globalThis.fetch,
    clock: clock.read,
    ...options,
  });
}

async function expectUnavailable(promise: Promise<unknown>, reason: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SelloError);
  expect((error as SelloError).code).toBe("service_unavailable");
  expect((error as SelloError).reason).toBe(reason);
}

describe("RemoteJwksSource", () => {
  it("fetches nothing until a key is needed", async () => {
    const fake = new FakeFetch();
    fake.keys = [keyA];
    const source = makeSource(fake, new FrozenClock());

    expect(source.getKey(keyA.kid)).toBeUndefined();
    expect(source.getOnlyKey()).toBeUndefined();
    expect(fake.calls).toHaveLength(0);

    await expect(source.refresh(keyA.kid)).resolves.toBe(true);
    expect(fake.calls).toHaveLength(1);
    expect(source.getKey(keyA.kid)?.kid).toBe(keyA.kid);
    expect(source.getOnlyKey()?.kid).toBe(keyA.kid);
  });

  it("sends accept, refuses redirects, sets a timeout", async () => {
    const fake = new FakeFetch();
    fake.keys = [keyA];
    const source = makeSource(fake, new FrozenClock());
    await source.load();

    const call = fake.calls[0];
    expect(call?.url).toBe("https://auth.example.com/.well-known/jwks.json");
    expect(call?.init?.redirect).toBe("error");
    expect(call?.init?.signal).toBeInstanceOf(AbortSignal);
    expect(call?.init?.headers).toEqual({ accept: "application/jwk-set+json, application/json" });
  });

  it("unknown kid refetches once per cooldown", async () => {
    const clock = new FrozenClock();
    const fake = new FakeFetch();
    fake.keys = [keyA];
    const source = makeSource(fake, clock);
    await source.load();

    await expect(source.refresh("missing-1")).resolves.toBe(false);
    await expect(source.refresh("missing-2")).resolves.toBe(false);
    clock.advance(29);
    await expect(source.refresh("missing-3")).resolves.toBe(false);
    expect(fake.calls).toHaveLength(1);

    clock.advance(1);
    await expect(source.refresh("missing-4")).resolves.toBe(false);
    expect(fake.calls).toHaveLength(2);
  });

  it("concurrent refreshes share one fetch", async () => {
    const fake = new FakeFetch();
    fake.keys = [keyA, keyB];
    let open: () => void = () => undefined;
    fake.gate = new Promise((resolve) => {
      open = resolve;
    });
    const source = makeSource(fake, new FrozenClock());

    const pending = [
      ...Array.from({ length: 50 }, () => source.refresh(keyB.kid)),
      ...Array.from({ length: 50 }, (_, index) => source.refresh(`unknown-${index}`)),
    ];
    open();
    const results = await Promise.all(pending);

    expect(fake.calls).toHaveLength(1);
    expect(results.slice(0, 50).every((found) => found)).toBe(true);
    expect(results.slice(50).some((found) => found)).toBe(false);
  });

  it("unknown kids are bounded and keep good keys", async () => {
    const fake = new FakeFetch();
    fake.keys = [keyA];
    let open: () => void = () => undefined;
    fake.gate = new Promise((resolve) => {
      open = resolve;
    });
    const source = makeSource(fake, new FrozenClock());

    const pending = Array.from({ length: 3000 }, (_, index) => source.refresh(`flood-${index}`));
    open();
    await Promise.all(pending);

    expect(fake.calls).toHaveLength(1);
    expect(source.unknownKidCount).toBeLessThanOrEqual(1024);
    expect(source.unknownKidCount).toBeGreaterThan(0);
    expect(source.getKey(keyA.kid)?.kid).toBe(keyA.kid);
  });

  it("unknown kid found after the cooldown", async () => {
    const clock = new FrozenClock();
    const fake = new FakeFetch();
    fake.keys = [keyA];
    const source = makeSource(fake, clock);
    await source.load();

    await expect(source.refresh(keyB.kid)).resolves.toBe(false);
    fake.keys = [keyA, keyB];
    await expect(source.refresh(keyB.kid)).resolves.toBe(false);

    clock.advance(30);
    await expect(source.refresh(keyB.kid)).resolves.toBe(true);
    expect(source.getKey(keyB.kid)?.kid).toBe(keyB.kid);
    expect(fake.calls).toHaveLength(2);
  });

  it("empty key set finds nothing", async () => {
    const fake = new FakeFetch();
    const source = makeSource(fake, new FrozenClock());

    await expect(source.refresh(keyA.kid)).resolves.toBe(false);
    await expect(source.refresh(undefined)).resolves.toBe(false);
    expect(source.getOnlyKey()).toBeUndefined();
  });

  it("imports only allowed algorithms", async () => {
    const fake = new FakeFetch();
    fake.keys = [keyA, edKey];
    const source = makeSource(fake, new FrozenClock(), { algorithms: ["ES256"] });
    await source.load();

    expect(source.getKey(keyA.kid)).toBeDefined();
    expect(source.getKey(edKey.kid)).toBeUndefined();
    expect(source.getOnlyKey()?.kid).toBe(keyA.kid);
  });

  it("unchanged key keeps its object", async () => {
    const clock = new FrozenClock();
    const fake = new FakeFetch();
    fake.keys = [keyA];
    const source = makeSource(fake, clock);
    await source.load();
    const first = source.getKey(keyA.kid);

    clock.advance(31);
    fake.keys = [keyA, keyB];
    await source.refresh(keyB.kid);
    expect(source.getKey(keyA.kid)).toBe(first);
  });

  it.each([
    [undefined, 600],
    ["max-age=120", 120],
    ["public, max-age=300, must-revalidate", 300],
    ["max-age=5", 30],
    ["max-age=999999", 600],
    ["no-store", 30],
    ["no-cache, max-age=300", 30],
    ["private", 600],
  ])("cache-control %j keeps keys %i s", async (cacheControl, seconds) => {
    const clock = new FrozenClock();
    const fake = new FakeFetch();
    fake.keys = [keyA];
    fake.headers = cacheControl === undefined ? {} : { "cache-control": cacheControl };
    const source = makeSource(fake, clock);
    await source.load();

    clock.advance(seconds - 1);
    source.getKey(keyA.kid);
    expect(fake.calls).toHaveLength(1);

    clock.advance(1);
    expect(source.getKey(keyA.kid)?.kid).toBe(keyA.kid);
    expect(fake.calls).toHaveLength(2);
  });

  it("expired keys refresh in the background", async () => {
    const clock = new FrozenClock();
    const fake = new FakeFetch();
    fake.keys = [keyA, keyB];
    const source = makeSource(fake, clock);
    await source.load();

    fake.keys = [keyB];
    clock.advance(600);
    expect(source.getKey(keyA.kid)?.kid).toBe(keyA.kid);
    await source.load();
    expect(source.getKey(keyA.kid)).toBeUndefined();
    expect(source.getKey(keyB.kid)?.kid).toBe(keyB.kid);
  });

  it("failed refresh keeps cached keys", async () => {
    const clock = new FrozenClock();
    const fake = new FakeFetch();
    fake.keys = [keyA];
    const source = makeSource(fake, clock);
    await source.load();

    fake.status = 500;
    clock.advance(600);
    source.getKey(keyA.kid);
    await expectUnavailable(source.load(), "jwks_http_status");
    expect(source.getKey(keyA.kid)?.kid).toBe(keyA.kid);

    // While the last fetch failed, an unknown kid cannot be decided.
    await expectUnavailable(source.refresh(keyB.kid), "jwks_unavailable");
  });

  it("recovers after the cooldown", async () => {
    const clock = new FrozenClock();
    const fake = new FakeFetch();
    fake.error = new TypeError("fetch failed");
    const source = makeSource(fake, clock);

    await expectUnavailable(source.refresh(keyA.kid), "jwks_fetch_failed");
    await expectUnavailable(source.refresh(keyA.kid), "jwks_unavailable");
    expect(fake.calls).toHaveLength(1);

    fake.error = undefined;
    fake.keys = [keyA];
    clock.advance(30);
    await expect(source.refresh(keyA.kid)).resolves.toBe(true);
    expect(fake.calls).toHaveLength(2);
  });

  it.each([
    ["status 404", { status: 404 }, "jwks_http_status"],
    [
      "status 302",
      { status: 302, headers: { location: "https://elsewhere.example" } },
      "jwks_http_status",
    ],
    ["invalid JSON", { body: "<html>" }, "jwks_invalid"],
    ["JSON without keys", { body: '{"key":[]}' }, "jwks_invalid"],
    ["JSON array", { body: "[]" }, "jwks_invalid"],
    [
      "declared too large",
      { headers: { "content-length": String(2 * 1024 * 1024) } },
      "jwks_too_large",
    ],
    [
      "streamed too large",
      { body: `{"keys":[],"pad":"${"x".repeat(1024 * 1024)}"}` },
      "jwks_too_large",
    ],
  ])("%s gives service_unavailable", async (_name, setup, reason) => {
    const fake = new FakeFetch();
    Object.assign(fake, setup);
    const source = makeSource(fake, new FrozenClock());

    await expectUnavailable(source.refresh("any"), reason);
  });

  describe("over HTTP", () => {
    let stub: JwksStub | undefined;

    afterEach(async () => {
      await stub?.close();
      stub = undefined;
    });

    it("timeout gives service_unavailable", async () => {
      stub = await JwksStub.start([keyA]);
      stub.mode = "hang";
      const source = createJwksSource({ uri: stub.url, timeout: 0.2 });

      const startedAt = performance.now();
      await expectUnavailable(source.refresh(keyA.kid), "jwks_timeout");
      expect(performance.now() - startedAt).toBeLessThan(5000);
    });

    it("redirect not followed", async () => {
      stub = await JwksStub.start([keyA]);
      stub.mode = "redirect";
      const source = createJwksSource({ uri: stub.url });

      await expectUnavailable(source.refresh(keyA.kid), "jwks_fetch_failed");
      expect(stub.paths).toEqual(["/jwks.json"]);
    });

    it("connection reset gives service_unavailable", async () => {
      stub = await JwksStub.start([keyA]);
      stub.mode = "reset";
      const source = createJwksSource({ uri: stub.url });

      await expectUnavailable(source.refresh(keyA.kid), "jwks_fetch_failed");
    });

    it("loads keys from a real server", async () => {
      stub = await JwksStub.start([keyA, keyB]);
      stub.cacheControl = "max-age=300";
      const source = createJwksSource({ uri: stub.url });

      await expect(source.refresh(keyB.kid)).resolves.toBe(true);
      expect(source.getKey(keyA.kid)?.verifyKey.equals(keyA.verifyKey)).toBe(true);
      expect(source.getKey(keyA.kid)?.signKey).toBeUndefined();
      expect(stub.fetches).toBe(1);
    });
  });
});

describe("createJwksSource options", () => {
  const accepted = [
    "https://auth.example.com/.well-known/jwks.json",
    "https://auth.example.com:8443/jwks?tenant=a",
    "http://localhost:3000/jwks.json",
    "http://127.0.0.1/jwks.json",
    "http://127.45.6.7:8080/jwks.json",
    "http://[::1]:3000/jwks.json",
  ];

  it.each(accepted)("accepts %s", (uri) => {
    expect(createJwksSource({ uri }).url.href).toBe(new URL(uri).href);
  });

  it("accepts a URL object", () => {
    expect(createJwksSource({ uri: new URL("https://auth.example.com/jwks") }).url.host).toBe(
      "auth.example.com",
    );
  });

  const rejected: [uri: unknown, fragment: string][] = [
    ["http://auth.example.com/jwks.json", "must use https"],
    ["http://10.0.0.5/jwks.json", "must use https"],
    ["http://169.254.169.254/jwks.json", "must use https"],
    ["http://127.0.0.1.nip.io/jwks.json", "must use https"],
    ["http://localhost.example.com/jwks.json", "must use https"],
    ["http://[::2]/jwks.json", "must use https"],
    ["ftp://auth.example.com/jwks.json", "must be an https URL"],
    ["file:///etc/jwks.json", "must be an https URL"],
    ["https://user:secret@auth.example.com/jwks.json", "must not contain credentials"],
    ["https://auth.example.com/jwks.json#keys", "must not contain a fragment"],
    ["/jwks.json", "is not a valid absolute URL"],
    ["", "is not a valid absolute URL"],
    [42, "must be a URL string or a URL object"],
    [undefined, "must be a URL string or a URL object"],
  ];

  it.each(rejected)("rejects %j", (uri, fragment) => {
    expect(() => createJwksSource({ uri: uri as string })).toThrow(TypeError);
    expect(() => createJwksSource({ uri: uri as string })).toThrow(fragment);
  });

  const invalidOptions: [options: Partial<JwksSourceOptions>, fragment: string][] = [
    [{ timeout: 0 }, "timeout must be more than 0 and at most 60 seconds"],
    [{ timeout: 61 }, "timeout must be more than 0 and at most 60 seconds"],
    [{ timeout: "soon" }, "timeout must be a number of seconds"],
    [{ maxAge: -1 }, "maxAge must be a finite, non-negative number"],
    [{ cooldown: 0 }, "cooldown must be more than 0"],
    [{ cooldown: "20m" }, "must not exceed maxAge"],
    [{ algorithms: ["HS256"] }, "A JWKS publishes only public keys"],
    [{ fetch: "fetch" as unknown as typeof fetch }, "fetch must be a function"],
    [{ clock: 0 as unknown as () => number }, "clock must be a function"],
  ];

  it.each(invalidOptions)("rejects %j", (options, fragment) => {
    const build = () => createJwksSource({ uri: "https://auth.example.com/jwks", ...options });
    expect(build).toThrow(TypeError);
    expect(build).toThrow(fragment);
  });
});
