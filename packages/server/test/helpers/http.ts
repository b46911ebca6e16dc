import { expect } from "vitest";

/** A parsed Set-Cookie header. */
export interface SetCookie {
  name: string;
  value: string;
  attributes: Record<string, string | true>;
}

export function parseSetCookies(response: Response): SetCookie[] {
  return response.headers.getSetCookie().map((header) => {
    const [pair, ...rest] = header.split(";");
    const separator = (pair as string).indexOf("=");
    const attributes: Record<string, string | true> = {};
    for (const part of rest) {
      const [key, ...value] = part.trim().split("=");
      attributes[(key as string).toLowerCase()] = value.length === 0 ? true : value.join("=");
    }
    return {
      name: (pair as string).slice(0, separator).trim(),
      value: (pair as string).slice(separator + 1).trim(),
      attributes,
    };
  });
}

export interface JsonResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
  cookies: SetCookie[];
}

/** Sends a request and reads a JSON body when there is one. */
export async function request<T = Record<string, unknown>>(
  url: string,
  init: RequestInit & { json?: unknown } = {},
): Promise<JsonResponse<T>> {
  const headers = new Headers(init.headers);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(init.json);
  }
  const response = await fetch(url, { ...init, headers, body: body ?? null });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: (text === "" ? {} : JSON.parse(text)) as T,
    cookies: parseSetCookies(response),
  };
}

/** Logs in and returns the access token, the refresh cookie and the whole response. */
export async function login(
  baseUrl: string,
  username: string,
  password: string,
  extra: Record<string, unknown> = {},
) {
  const response = await request<{
    access_token: string;
    token_type: string;
    refresh_token?: string;
    expires_in: number;
    user: { id: string };
  }>(`${baseUrl}/auth/login`, { method: "POST", json: { username, password, ...extra } });
  const cookie = response.cookies.find((entry) => entry.name.endsWith("sello_refresh"));
  return { response, accessToken: response.body.access_token, refreshCookie: cookie };
}

/** Refreshes with a refresh cookie, sending the CSRF header as the browser client does. */
export async function refreshWithCookie(baseUrl: string, cookie: { name: string; value: string }) {
  return request<{ access_token: string; expires_in: number }>(`${baseUrl}/auth/refresh`, {
    method: "POST",
    headers: { cookie: `${cookie.name}=${cookie.value}`, "x-sello-csrf": "1" },
  });
}

/** The body of a login or refresh response; `refresh_token` only in body delivery. */
export interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token?: string;
  refresh_token_expires_in?: number;
  user: { id: string; username: string; roles: string[]; permissions: string[] };
}

/** Logs in with `refresh_token_delivery: "body"` and returns both tokens. */
export async function loginForTokens(baseUrl: string, username: string, password: string) {
  const response = await request<TokenBody>(`${baseUrl}/auth/login`, {
    method: "POST",
    json: { username, password, refresh_token_delivery: "body" },
  });
  expect(response.status).toBe(200);
  return {
    response,
    accessToken: response.body.access_token,
    refreshToken: response.body.refresh_token as string,
  };
}

/** Refreshes with a refresh token in the JSON body. */
export async function refreshWithBody(baseUrl: string, refreshToken: string) {
  return request<TokenBody>(`${baseUrl}/auth/refresh`, {
    method: "POST",
    json: { refresh_token: refreshToken },
  });
}

/** Calls GET /auth/me with the access token as a bearer token. */
export async function getMe(baseUrl: string, accessToken: string) {
  return request(`${baseUrl}/auth/me`, { headers: bearer(accessToken) });
}

/** Builds the Authorization header for a bearer token. */
export function bearer(accessToken: string): Record<string, string> {
  return { authorization: `Bearer ${accessToken}` };
}

/**
 * Asserts that a response is a contract error: the status, a JSON content type, and a body with
 * exactly `error` (the code) and `message` (one plain sentence).
 */
export function expectError(response: JsonResponse<unknown>, status: number, code: string): void {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  expect(response.body).toEqual({ error: code, message: expect.any(String) });
  const { message } = response.body as { message: string };
  expect(message).toMatch(/^[A-Z][^\n]*\.$/);
  expect(message).not.toMatch(/\bat .*\.(?:js|ts):\d+/);
}

/** Reads the payload of a JWT without verifying it, for checks on claims the server issued. */
export function decodeClaims(
  token: string,
): Record<string, unknown> & { sid: string; sub: string } {
  const payload = token.split(".")[1] ?? "";
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
}

/** Reads the protected header of a JWT without verifying it. */
export function decodeHeader(token: string): Record<string, unknown> {
  const header = token.split(".")[0] ?? "";
  return JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
}
