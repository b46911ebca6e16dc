import { SelloClientError } from "./errors.js";

/**
 * How long one call to the auth server may take, body included, in milliseconds. A refresh whose
 * response was lost is retried 0.5 seconds after this timeout, which stays inside the server's
 * default 10-second grace window, so the retry gets the same successor instead of counting as
 * a reuse.
 */
const REQUEST_TIMEOUT_MS = 8_000;

/** One POST to the auth server. */
export interface AuthCall {
  url: string;
  /** The JSON body. Omitted for refresh and logout, which carry only the cookie. */
  json?: unknown;
  /** Sends the access token in `Authorization: Bearer`. */
  bearer?: string | null;
}

/**
 * Sends a POST to the auth server with the refresh cookie (`credentials: "include"`) and the
 * CSRF header, and returns the parsed JSON body (`undefined` for 204). Throws SelloClientError:
 * the server's code for a Sello error response, `network_error` when no response arrived within
 * 8 seconds, and `invalid_response` for any other response.
 */
export async function postToAuthServer(fetchImpl: typeof fetch, call: AuthCall): Promise<unknown> {
  const headers: Record<string, string> = { "x-sello-csrf": "1" };
  if (call.json !== undefined) {
    headers["content-type"] = "application/json";
  }
  if (call.bearer) {
    headers.authorization = `Bearer ${call.bearer}`;
  }

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
  const path = new URL(call.url).pathname;
  let response: Response;
  let text: string;
  try {
    response = await fetchImpl(call.url, {
      method: "POST",
      headers,
      body: call.json === undefined ? null : JSON.stringify(call.json),
      credentials: "include",
      cache: "no-store",
      signal: controller.signal,
    });
    text = await response.text();
  } catch (cause) {
    throw new SelloClientError("network_error", {
      message: `POST ${path} failed or timed out before a response arrived.`,
      cause,
    });
  } finally {
    clearTimeout(timer);
  }

  const body = parseJson(text);
  if (response.ok) {
    return body;
  }
  throw errorFromResponse(response.status, body, response.headers.get("retry-after"), path);
}

/** Parses a JSON text, returning undefined for an empty or invalid one. */
export function parseJson(text: string): unknown {
  if (text === "") {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Turns a failed response into a SelloClientError with the server's code and message. */
function errorFromResponse(
  status: number,
  body: unknown,
  retryAfterHeader: string | null,
  path: string,
): SelloClientError {
  const retryAfter = retryAfterHeader === null ? undefined : Number(retryAfterHeader);
  const options = {
    status,
    retryAfter: Number.isFinite(retryAfter) ? retryAfter : undefined,
  };
  const error = (body as { error?: unknown } | undefined)?.error;
  if (typeof error !== "string") {
    return new SelloClientError("invalid_response", {
      ...options,
      message: `POST ${path} returned HTTP ${status} without a Sello error body.`,
    });
  }
  const message = (body as { message?: unknown }).message;
  return new SelloClientError(error as SelloClientError["code"], {
    ...options,
    message: typeof message === "string" ? message : undefined,
  });
}

/** Reports whether a response body is the error `token_expired`, the only 401 worth a retry. */
export function isTokenExpiredBody(body: unknown): boolean {
  return (body as { error?: unknown } | null | undefined)?.error === "token_expired";
}
