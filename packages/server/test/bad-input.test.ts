import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, expectError, loginForTokens, request } from "./helpers/http.js";
import { addUser, type RunningServer, startServer } from "./helpers/server.js";

const PASSWORD = "correct horse battery";

/** The POST endpoints that read a body, each with its first required field. */
const BODY_ENDPOINTS = [
  { path: "/auth/login", field: "username", valid: { username: "alice", password: PASSWORD } },
  { path: "/auth/refresh", field: "refresh_token", valid: { refresh_token: "x".repeat(43) } },
  {
    path: "/auth/password",
    field: "current_password",
    valid: { current_password: PASSWORD, new_password: "purple monkey dishwasher" },
  },
  { path: "/auth/register", field: "username", valid: { username: "zed", password: PASSWORD } },
  { path: "/auth/revoke", field: "token", valid: { token: "x" } },
] as const;

let running: RunningServer;

beforeAll(async () => {
  running = await startServer({ SELLO_REGISTRATION: "open" });
  await addUser(running, "alice", PASSWORD);
  await addUser(running, "root", PASSWORD, ["admin"]);
});

afterAll(async () => {
  await running.stop();
});

/** Sends a POST with an exact body and content type; `contentType: null` sends none. */
async function post(path: string, body: string | Uint8Array, contentType: string | null) {
  const headers: Record<string, string> =
    contentType === null ? {} : { "content-type": contentType };
  const payload = typeof body === "string" && contentType === null ? Buffer.from(body) : body;
  return request(`${running.url}${path}`, { method: "POST", headers, body: payload });
}

/** Sends raw bytes over TCP and returns the status line, headers and body of the response. */
async function sendRaw(text: string): Promise<{ status: number; head: string; body: string }> {
  const port = Number(new URL(running.url).port);
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(text));
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
    });
    socket.on("close", () => resolve(received));
    socket.on("error", reject);
    socket.setTimeout(5000, () => socket.destroy());
  });
  const [head = "", body = ""] = answer.split("\r\n\r\n");
  return { status: Number(head.split(" ")[1]), head, body };
}

describe.each(BODY_ENDPOINTS)("bad bodies at $path", ({ path, field, valid }) => {
  it("text body is unsupported", async () => {
    expectError(
      await post(path, JSON.stringify(valid), "text/plain"),
      415,
      "unsupported_media_type",
    );
  });

  it("missing content type is unsupported", async () => {
    expectError(await post(path, JSON.stringify(valid), null), 415, "unsupported_media_type");
  });

  it("unknown content type is unsupported", async () => {
    const response = await post(path, JSON.stringify(valid), "application/vnd.example+json");

    expectError(response, 415, "unsupported_media_type");
  });

  it("malformed JSON is invalid_request", async () => {
    const response = await post(path, '{"username": "alice",', "application/json");
    expectError(response, 400, "invalid_request");
    expect(response.body.message).toBe("The request body is not valid JSON.");
    expect(response.headers.get("www-authenticate")).toBeNull();
  });

  it("empty JSON body is invalid_request", async () => {
    const response = await post(path, "", "application/json");
    expectError(response, 400, "invalid_request");
    expect(response.body.message).toContain("the body is empty");
  });

  it("array body fails validation", async () => {
    expectError(
      await post(path, JSON.stringify([valid]), "application/json"),
      400,
      "validation_failed",
    );
  });

  it("string body fails validation", async () => {
    expectError(await post(path, '"alice"', "application/json"), 400, "validation_failed");
  });

  it("number body fails validation", async () => {
    expectError(await post(path, "42", "application/json"), 400, "validation_failed");
  });

  it("unknown field fails validation", async () => {
    const response = await post(
      path,
      JSON.stringify({ ...valid, admin: true }),
      "application/json",
    );

    expectError(response, 400, "validation_failed");
    expect(response.body.message).toBe('Unknown field "admin" in the request body.');
  });

  it("wrong field type fails validation", async () => {
    const response = await post(
      path,
      JSON.stringify({ ...valid, [field]: ["x"] }),
      "application/json",
    );

    expectError(response, 400, "validation_failed");
    expect(response.body.message).toBe(`The field "${field}" must be a string.`);
  });

  it("deep nesting fails validation", async () => {
    const nested = `${"[".repeat(5000)}${"]".repeat(5000)}`;

    expectError(await post(path, nested, "application/json"), 400, "validation_failed");
  });

  it("body over limit is rejected", async () => {
    const response = await post(
      path,
      JSON.stringify({ ...valid, [field]: "x".repeat(17_000) }),
      "application/json",
    );

    expectError(response, 413, "payload_too_large");
  });

  it("chunked body over limit is rejected", async () => {
    const chunk = new TextEncoder().encode(" ".repeat(1000));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let index = 0; index < 20; index++) controller.enqueue(chunk);
        controller.close();
      },
    });

    const response = await request(`${running.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit);

    expectError(response, 413, "payload_too_large");
  });

  it("invalid UTF-8 is not a server error", async () => {
    const bytes = Buffer.concat([
      Buffer.from(`{"${field}":"`),
      Buffer.from([0xff, 0xfe, 0xc3]),
      Buffer.from('"}'),
    ]);

    const response = await post(path, bytes, "application/json");

    // The decoder replaces the bytes with U+FFFD, so the endpoint responds as to any other bad value.
    expect(response.status).toBeLessThan(500);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  });
});

describe("null bodies", () => {
  it("null fails validation where required", async () => {
    for (const path of ["/auth/login", "/auth/password", "/auth/register", "/auth/revoke"]) {
      expectError(await post(path, "null", "application/json"), 400, "validation_failed");
    }
  });

  it("null refresh body carries no token", async () => {
    const response = await post("/auth/refresh", "null", "application/json");

    expectError(response, 401, "invalid_refresh_token");
  });

  it("form body at login is unsupported", async () => {
    const response = await post(
      "/auth/login",
      `username=alice&password=${PASSWORD}`,
      "application/x-www-form-urlencoded",
    );

    expectError(response, 415, "unsupported_media_type");
  });
});

describe("validation messages in plain words", () => {
  it("names an empty field", async () => {
    const response = await post(
      "/auth/login",
      JSON.stringify({ username: "", password: PASSWORD }),
      "application/json",
    );

    expectError(response, 400, "validation_failed");
    expect(response.body.message).toBe('The field "username" must not be empty.');
  });

  it("names a value outside its list", async () => {
    const response = await post(
      "/auth/login",
      JSON.stringify({ username: "alice", password: PASSWORD, refresh_token_delivery: "url" }),
      "application/json",
    );

    expectError(response, 400, "validation_failed");
    expect(response.body.message).toBe(
      'The field "refresh_token_delivery" must be one of "cookie", "body".',
    );
  });

  it("missing body asks for JSON", async () => {
    const response = await request(`${running.url}/auth/login`, { method: "POST" });

    expectError(response, 400, "validation_failed");
    expect(response.body.message).toBe(
      "The request body must be a JSON object, sent with Content-Type: application/json.",
    );
  });

  it("names every type a body may have", async () => {
    const response = await post("/auth/refresh", "[]", "application/json");

    expectError(response, 400, "validation_failed");
    expect(response.body.message).toBe("The request body must be an object or null.");
  });

  it("hides the pattern of a path parameter", async () => {
    const { accessToken } = await loginForTokens(running.url, "root", PASSWORD);
    const response = await request(`${running.url}/admin/users/not-an-id`, {
      method: "GET",
      headers: bearer(accessToken),
    });

    expectError(response, 400, "validation_failed");
    expect(response.body.message).toBe('The path parameter "id" has an invalid format.');
  });
});

describe("security: prototype keys in bodies", () => {
  const payloads = [
    `{"username":"alice","password":"${PASSWORD}","__proto__":{"polluted":true}}`,
    `{"__proto__":{"username":"alice"},"password":"${PASSWORD}"}`,
    `{"username":"alice","password":"${PASSWORD}","constructor":{"prototype":{"polluted":true}}}`,
  ];

  it("JSON prototype keys are rejected", async () => {
    for (const path of ["/auth/login", "/auth/register", "/auth/revoke", "/auth/refresh"]) {
      for (const payload of payloads) {
        const response = await post(path, payload, "application/json");
        expectError(response, 400, "invalid_request");
      }
    }
    expect(Object.hasOwn(Object.prototype, "polluted")).toBe(false);
  });

  it("form __proto__ parameter is rejected", async () => {
    const response = await post(
      "/auth/revoke",
      "token=abc&__proto__=x",
      "application/x-www-form-urlencoded",
    );

    expectError(response, 400, "validation_failed");
    expect(response.body.message).toBe('Unknown field "__proto__" in the request body.');
  });

  it("form bracket keys pollute nothing", async () => {
    const response = await post(
      "/auth/revoke",
      "token=abc&__proto__[polluted]=1&constructor[prototype][polluted]=1",
      "application/x-www-form-urlencoded",
    );

    expectError(response, 400, "validation_failed");
    expect(Object.hasOwn(Object.prototype, "polluted")).toBe(false);
  });
});

describe("oversized and malformed requests", () => {
  it("huge header gets JSON error", async () => {
    const response = await request(`${running.url}/healthz`, {
      headers: { "x-filler": "a".repeat(20_000) },
    });

    expectError(response, 431, "invalid_request");
    expect(response.body.message).toBe("The request headers are too large.");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("huge URL gets JSON error", async () => {
    const response = await request(`${running.url}/healthz?${"q".repeat(20_000)}`);

    expectError(response, 431, "invalid_request");
  });

  it("many headers get JSON error", async () => {
    const headers = Array.from({ length: 3000 }, (_, index) => `x-h${index}: 1\r\n`).join("");

    const answer = await sendRaw(
      `GET /healthz HTTP/1.1\r\nHost: localhost\r\n${headers}Connection: close\r\n\r\n`,
    );

    expect(answer.status).toBe(431);
    expect(JSON.parse(answer.body)).toEqual({
      error: "invalid_request",
      message: "The request headers are too large.",
    });
  });

  it("malformed request line gets JSON error", async () => {
    const answer = await sendRaw("NOT A REQUEST\r\n\r\n");

    expect(answer.status).toBe(400);
    expect(answer.head).toMatch(/content-type: application\/json/i);
    expect(JSON.parse(answer.body)).toEqual({
      error: "invalid_request",
      message: "The request is not valid HTTP.",
    });
  });

  it("invalid Content-Length gets JSON error", async () => {
    const answer = await sendRaw(
      "POST /auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
        "Content-Length: abc\r\n\r\n{}",
    );

    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ error: "invalid_request" });
  });

  it("server keeps answering afterwards", async () => {
    await sendRaw("NOT A REQUEST\r\n\r\n");

    expect((await request(`${running.url}/healthz`)).status).toBe(200);
  });
});

describe("bad Authorization headers", () => {
  let accessToken: string;

  beforeAll(async () => {
    accessToken = (await loginForTokens(running.url, "alice", PASSWORD)).accessToken;
  });

  async function me(authorization: string) {
    return request(`${running.url}/auth/me`, { headers: { authorization } });
  }

  it("other scheme is missing_token", async () => {
    const response = await me("Basic YWxpY2U6c2VjcmV0");

    expectError(response, 401, "missing_token");
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="sello"');
  });

  it("malformed bearer values are invalid_request", async () => {
    const cases = [
      ["Bearer", "The Authorization header has no token after Bearer."],
      [
        `Bearer ${accessToken} extra`,
        "The Authorization header must contain one token after Bearer.",
      ],
      ["Bearer a,b", "The bearer token contains characters that are not allowed."],
      [accessToken, "The Authorization header must start with the scheme Bearer."],
    ] as const;

    for (const [authorization, message] of cases) {
      const response = await me(authorization);
      expectError(response, 400, "invalid_request");
      expect(response.body.message).toBe(message);
    }
  });

  it("tampered token is invalid_token", async () => {
    const [header, payload] = accessToken.split(".");
    const forged = `${header}.${payload}.${"A".repeat(86)}`;

    expectError(await me(`Bearer ${forged}`), 401, "invalid_token");
  });

  it("unsigned token is invalid_token", async () => {
    const payload = accessToken.split(".")[1];
    const header = Buffer.from('{"alg":"none","typ":"at+jwt"}').toString("base64url");

    expectError(await me(`Bearer ${header}.${payload}.`), 401, "invalid_token");
  });

  it("very long token is invalid_token", async () => {
    expectError(await me(`Bearer ${"a".repeat(8000)}`), 401, "invalid_token");
  });

  it("two Authorization headers are rejected", async () => {
    const answer = await sendRaw(
      "GET /auth/me HTTP/1.1\r\nHost: localhost\r\n" +
        `Authorization: Bearer ${accessToken}\r\nAuthorization: Bearer ${accessToken}\r\n` +
        "Connection: close\r\n\r\n",
    );

    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({
      error: "invalid_request",
      message: "The request carries more than one Authorization header.",
    });
  });

  it("bad bearer on logout is rejected", async () => {
    const response = await request(`${running.url}/auth/logout`, {
      method: "POST",
      headers: bearer("not-a-jwt"),
    });

    expectError(response, 401, "invalid_token");
  });
});

describe("unknown routes and methods", () => {
  it("unknown path is not_found", async () => {
    expectError(await request(`${running.url}/auth/nothing`), 404, "not_found");
  });

  it("wrong method is not_found", async () => {
    expectError(await request(`${running.url}/auth/login`), 404, "not_found");
    expectError(await request(`${running.url}/auth/me`, { method: "DELETE" }), 404, "not_found");
  });

  it("path traversal is not_found", async () => {
    const answer = await sendRaw(
      "GET /../../etc/passwd HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );

    expect(answer.status).toBe(404);
    expect(JSON.parse(answer.body)).toMatchObject({ error: "not_found" });
  });
});

describe("bounded random bodies", () => {
  /** A small seeded generator (mulberry32), so a failing input can be reproduced. */
  function seededRandom(seed: number): () => number {
    let state = seed;
    return () => {
      state = (state + 0x6d2b79f5) | 0;
      let value = Math.imul(state ^ (state >>> 15), 1 | state);
      value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value;
      return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
    };
  }

  const FRAGMENTS = [
    '{"',
    '"',
    ":",
    ",",
    "}",
    "[",
    "]",
    "null",
    "1e999",
    "-0",
    "\\u0000",
    "__proto__",
    "username",
    "password",
    "refresh_token",
    "token",
    "true",
    "\u{1F600}",
    "\\",
    " ",
  ];

  it("never answer a server error", async () => {
    const random = seededRandom(20_261_204);
    const failures: string[] = [];

    // 40 bodies per endpoint, 200 requests in all.
    for (let round = 0; round < 40; round++) {
      const length = 1 + Math.floor(random() * 12);
      let body = "";
      for (let index = 0; index < length; index++) {
        body += FRAGMENTS[Math.floor(random() * FRAGMENTS.length)];
      }
      for (const { path } of BODY_ENDPOINTS) {
        const response = await post(path, body, "application/json");
        const shapeOk =
          response.status < 300 ||
          (typeof response.body.error === "string" && typeof response.body.message === "string");
        if (response.status >= 500 || !shapeOk) {
          failures.push(`${path} ${JSON.stringify(body)} -> ${response.status}`);
        }
      }
    }

    expect(failures).toEqual([]);
  });
});
