/// <reference types="jquery" preserve="true" />
import { isTokenExpiredBody, parseJson } from "./http.js";
import type { Session } from "./types.js";

/** The result of one XMLHttpRequest, in the form that jQuery's transport callback takes. */
interface XhrOutcome {
  status: number;
  statusText: string;
  responses?: { text: string } | { binary: unknown };
  headers?: string;
}

/** Settings that jQuery passes to transports but does not declare in its types. */
type TransportSettings = JQuery.AjaxSettings & { hasContent?: boolean };

/**
 * Makes every asynchronous `$.ajax` call to an origin in `tokenOrigins` carry the session's
 * access token, and handles a 401 `token_expired` with one renewal and one retry before jQuery
 * receives the response. It does so through `$.ajaxTransport`, so existing calls, their callbacks
 * and the global ajax events stay unchanged, and the first 401 never reaches them.
 *
 * Calls with `async: false` and calls that set their own `Authorization` header are sent as
 * they are. Returns a function that turns the adapter off.
 */
export function attachToJQuery(session: Session, $: JQueryStatic): () => void {
  let attached = true;
  $.ajaxTransport("+*", (options) => {
    const url = options.url ?? location.href;
    if (!attached || options.async === false || !session.sendsTokenTo(url)) {
      return undefined;
    }
    return createTransport(session, options as TransportSettings);
  });
  return () => {
    attached = false;
  };
}

function createTransport(session: Session, options: TransportSettings): JQuery.Transport {
  let current: XMLHttpRequest | null = null;
  let aborted = false;

  /** Sends the request once, with the token when there is one. */
  const sendOnce = (headers: Record<string, string>, token: string | null) =>
    new Promise<XhrOutcome>((resolve) => {
      const xhr = options.xhr?.() ?? new XMLHttpRequest();
      current = xhr;
      xhr.open(
        options.type ?? "GET",
        options.url ?? location.href,
        true,
        options.username,
        options.password,
      );
      for (const [field, value] of Object.entries(options.xhrFields ?? {})) {
        (xhr as unknown as Record<string, unknown>)[field] = value;
      }
      if (options.mimeType) {
        xhr.overrideMimeType(options.mimeType);
      }

      const all: Record<string, string> = { ...headers };
      if (!options.crossDomain && all["X-Requested-With"] === undefined) {
        all["X-Requested-With"] = "XMLHttpRequest";
      }
      if (token !== null) {
        all.Authorization = `Bearer ${token}`;
      }
      for (const [name, value] of Object.entries(all)) {
        xhr.setRequestHeader(name, value);
      }

      xhr.onload = () => {
        const text =
          (xhr.responseType || "text") === "text" && typeof xhr.responseText === "string";
        resolve({
          status: xhr.status,
          statusText: xhr.statusText,
          responses: text ? { text: xhr.responseText } : { binary: xhr.response },
          headers: xhr.getAllResponseHeaders(),
        });
      };
      const fail = () => resolve({ status: xhr.status, statusText: xhr.statusText });
      xhr.onerror = fail;
      xhr.ontimeout = fail;
      xhr.onabort = fail;
      xhr.send(((options.hasContent && options.data) || null) as XMLHttpRequestBodyInit | null);
    });

  const run = async (
    headers: Record<string, string>,
    complete: JQuery.Transport.SuccessCallback,
  ): Promise<void> => {
    const ownAuthorization = Object.keys(headers).some(
      (name) => name.toLowerCase() === "authorization",
    );
    let token: string | null = null;
    if (!ownAuthorization) {
      try {
        token = await session.getAccessToken();
      } catch {
        // The token expired and could not be renewed: report it like a failed connection.
        if (!aborted) {
          complete(0, "error");
        }
        return;
      }
    }
    if (aborted) {
      return;
    }

    let outcome = await sendOnce(headers, token);
    const body =
      outcome.responses !== undefined && "text" in outcome.responses
        ? parseJson(outcome.responses.text)
        : undefined;
    if (!aborted && token !== null && outcome.status === 401 && isTokenExpiredBody(body)) {
      const renewed = await session.refresh(token).catch(() => null);
      if (renewed !== null && renewed !== token && !aborted) {
        outcome = await sendOnce(headers, renewed);
      }
    }
    if (!aborted) {
      complete(
        outcome.status,
        outcome.statusText as JQuery.Ajax.TextStatus,
        outcome.responses,
        outcome.headers,
      );
    }
  };

  return {
    send(headers, complete) {
      void run(headers as Record<string, string>, complete);
    },
    abort() {
      aborted = true;
      current?.abort();
    },
  };
}
