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
