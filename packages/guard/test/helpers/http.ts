import { request } from "node:http";

/** What a test reads from a response. */
export interface HttpResult {
  status: number;
  /** `WWW-Authenticate`, or null when absent. */
  challenge: string | null;
  retryAfter: string | null;
  body: Record<string, unknown>;
}

/** Sends a GET with fetch, which normalises the URL and joins repeated headers. */
export async function fetchGet(
  baseUrl: string,
  path: string,
  authorization?: string,
): Promise<HttpResult> {
  const response = await fetch(baseUrl + path, {
    headers: authorization === undefined ? {} : { authorization },
  });
  const text = await response.text();
  return {
    status: response.status,
    challenge: response.headers.get("www-authenticate"),
    retryAfter: response.headers.get("retry-after"),
    body: parseBody(text),
  };
}

/**
 * Sends a GET with node:http, which keeps the path exactly as given and sends each
 * `Authorization` value as its own header line.
 */
export function rawGet(
  baseUrl: string,
  path: string,
  authorization: string[] = [],
): Promise<HttpResult> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: hostname,
        port,
        path,
        method: "GET",
        agent: false,
        // The flat [name, value, ...] form sends one header line per pair, and Node adds no
        // Host header to it.
        headers: [
          "host",
          `${hostname}:${port}`,
          ...authorization.flatMap((value) => ["authorization", value]),
        ],
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          text += chunk;
        });
        response.on("end", () => {
          const header = (name: string) => {
            const value = response.headers[name];
            return typeof value === "string" ? value : null;
          };
          resolve({
            status: response.statusCode ?? 0,
            challenge: header("www-authenticate"),
            retryAfter: header("retry-after"),
            body: parseBody(text),
          });
        });
      },
    );
    outgoing.on("error", reject);
    outgoing.end();
  });
}

function parseBody(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { text };
  }
}
