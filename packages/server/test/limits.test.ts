import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectError, type JsonResponse, request } from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

const PASSWORD = "correct horse battery";
const WRONG = "wrong horse battery";
const SECOND = 1000;
/** SELLO_LOGIN_WINDOW's default, in seconds. */
const WINDOW_SECONDS = 900;

async function attempt(running: RunningServer, username: string, password: string, headers = {}) {
  return request(`${running.url}/auth/login`, {
    method: "POST",
    headers,
    json: { username, password },
  });
}

/** Asserts a 429 with a positive whole Retry-After and returns its value in seconds. */
function expectRateLimited(response: JsonResponse): number {
  expectError(response, 429, "rate_limited");
  const retryAfter = response.headers.get("retry-after") ?? "";
  expect(retryAfter).toMatch(/^[1-9]\d*$/);
  const unit = retryAfter === "1" ? "second" : "seconds";
  expect(response.body.message).toBe(
    `Too many failed attempts. Try again in ${retryAfter} ${unit}.`,
  );
  return Number(retryAfter);
}

/** Status and Retry-After of each response, for comparing two runs. */
function outline(responses: JsonResponse[]): string[] {
  return responses.map((response) => `${response.status} ${response.headers.get("retry-after")}`);
}

describe("per-account login limit", () => {
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer({ SELLO_LOGIN_MAX_ATTEMPTS_PER_IP: "1000" });
    await addUser(running, "alice", PASSWORD);
    await addUser(running, "bob", PASSWORD);
    await addUser(running, "carol", PASSWORD);
  });

  afterAll(async () => {
    await running.stop();
  });

  /** Five free failures, then waits that double from one second after each further failure. */
  async function failRepeatedly(username: string): Promise<JsonResponse[]> {
    const responses: JsonResponse[] = [];
    for (let index = 0; index < 5; index++) {
      responses.push(await attempt(running, username, WRONG));
    }
    for (const waitSeconds of [1, 2, 4]) {
      responses.push(await attempt(running, username, WRONG));
      running.clock.now += waitSeconds * SECOND;
      responses.push(await attempt(running, username, WRONG));
    }
    return responses;
  }

  it("delays after five failures", async () => {
    const responses = await failRepeatedly("alice");

    for (const response of responses.slice(0, 5)) {
      expectError(response, 401, "invalid_credentials");
    }
    expect(expectRateLimited(responses[5] as JsonResponse)).toBe(1);
    expectError(responses[6] as JsonResponse, 401, "invalid_credentials");
    expect(expectRateLimited(responses[7] as JsonResponse)).toBe(2);
    expectError(responses[8] as JsonResponse, 401, "invalid_credentials");
    expect(expectRateLimited(responses[9] as JsonResponse)).toBe(4);
    expectError(responses[10] as JsonResponse, 401, "invalid_credentials");
  });

  it("unknown account gets the same answers", async () => {
    const known = await failRepeatedly("bob");
    const unknown = await failRepeatedly("nobody");

    expect(outline(unknown)).toEqual(outline(known));
    expect(unknown.map((response) => response.body)).toEqual(
      known.map((response) => response.body),
    );
  });

  it("blocks the right password too", async () => {
    for (let index = 0; index < 5; index++) {
      await attempt(running, "carol", WRONG);
    }

    const blocked = await attempt(running, "carol", PASSWORD);

    expect(expectRateLimited(blocked)).toBe(1);
    expect(blocked.cookies).toEqual([]);
  });

  it("success resets the account count", async () => {
    await addUser(running, "dave", PASSWORD);
    for (let index = 0; index < 5; index++) {
      await attempt(running, "dave", WRONG);
    }
    running.clock.now += SECOND;
    expect((await attempt(running, "dave", PASSWORD)).status).toBe(200);

    for (let index = 0; index < 5; index++) {
      expectError(await attempt(running, "dave", WRONG), 401, "invalid_credentials");
    }
  });

  it("other accounts stay open", async () => {
    await addUser(running, "erin", PASSWORD);
    for (let index = 0; index < 6; index++) {
      await attempt(running, "frank", WRONG);
    }

    expect((await attempt(running, "erin", PASSWORD)).status).toBe(200);
  });

  it("records a rate_limited audit event", async () => {
    const since = running.clock.now;
    for (let index = 0; index < 6; index++) {
      await attempt(running, "grace", WRONG);
    }

    const events = await running.server.store.listAudit({ type: "login.rate_limited", since });
    const forGrace = events.filter((event) => event.detail.account === "grace");
    expect(forGrace).toHaveLength(1);
    expect(forGrace[0]?.ip).toBe("127.0.0.1");
  });
});

describe("per-IP login limit", () => {
  const MAX_PER_IP = 4;
  let running: RunningServer;

  beforeAll(async () => {
    running = await startServer({
      SELLO_LOGIN_MAX_ATTEMPTS_PER_IP: String(MAX_PER_IP),
      SELLO_TRUST_PROXY: "loopback",
    });
    for (const name of ["alice", "bob", "carol", "dave", "erin"]) {
      await addUser(running, name, PASSWORD);
    }
  });

  afterAll(async () => {
    await running.stop();
  });

  /** Fails once for each of the usernames, then tries one more login. */
  async function sprayFrom(usernames: string[], headers: Record<string, string> = {}) {
    const responses: JsonResponse[] = [];
    for (const username of usernames) {
      responses.push(await attempt(running, username, WRONG, headers));
    }
    responses.push(await attempt(running, "erin", PASSWORD, headers));
    return responses;
  }

  it("blocks the address after the cap", async () => {
    const responses = await sprayFrom(["alice", "bob", "carol", "dave"]);

    for (const response of responses.slice(0, MAX_PER_IP)) {
      expectError(response, 401, "invalid_credentials");
    }
    expect(expectRateLimited(responses[MAX_PER_IP] as JsonResponse)).toBe(WINDOW_SECONDS);

    running.clock.now += WINDOW_SECONDS * SECOND;
    expect((await attempt(running, "erin", PASSWORD)).status).toBe(200);
  });

  it("unknown accounts count the same", async () => {
    running.clock.now += WINDOW_SECONDS * SECOND;
    const known = await sprayFrom(["alice", "bob", "carol", "dave"]);
    running.clock.now += WINDOW_SECONDS * SECOND;
    const unknown = await sprayFrom(["nobody1", "nobody2", "nobody3", "nobody4"]);

    expect(outline(unknown)).toEqual(outline(known));
    expect(outline(unknown).at(-1)).toBe(`429 ${WINDOW_SECONDS}`);
  });

  it("counts each forwarded client apart", async () => {
    running.clock.now += WINDOW_SECONDS * SECOND;
    const first = { "x-forwarded-for": "198.51.100.1" };
    const second = { "x-forwarded-for": "198.51.100.2" };

    const blocked = await sprayFrom(["alice", "bob", "carol", "dave"], first);
    const other = await attempt(running, "erin", PASSWORD, second);

    expectRateLimited(blocked.at(-1) as JsonResponse);
    expect(other.status).toBe(200);
  });
});
