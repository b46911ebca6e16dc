import type { SelloClientError } from "./errors.js";

/** The logged-in user, as the login and refresh responses describe them. */
export interface SelloUser {
  readonly id: string;
  readonly username: string;
  readonly roles: readonly string[];
  readonly permissions: readonly string[];
}

export interface SessionOptions {
  /**
   * URL of the Sello auth server, such as `"https://auth.example.com"`, or a path such as `"/"`
   * that is resolved against the page's URL. The client calls `<baseUrl>/auth/login` and the
   * other `/auth/*` routes. Required.
   */
  baseUrl: string;
  /**
   * Page to send the browser to (with `location.assign`) when the session ends on the server:
   * revoked, reused or expired. Default: no redirect, only the `expired` event.
   */
  loginUrl?: string;
  /**
   * Seconds before the access token expires at which the client renews it. Default 60. The
   * client never renews earlier than half of the token's lifetime, so a lifetime shorter than
   * twice this value does not cause a renewal loop.
   */
  renewBefore?: number;
  /** The fetch implementation for every request the client sends. Default: `globalThis.fetch`. */
  fetch?: typeof fetch;
  /**
   * Restores the session on creation with one silent refresh, so that a reload keeps the user
   * logged in. Default true. When false, the first `getAccessToken()` or `restore()` does it.
   */
  restore?: boolean;
  /**
   * Renews the access token on a timer, `renewBefore` seconds before it expires, even when the
   * page sends no request. Default true. An open page then keeps the session alive until its
   * absolute lifetime. When false, the token is renewed only when a request needs it.
   */
  autoRenew?: boolean;
  /**
   * Origins that receive the access token from `session.fetch` and the adapters, such as
   * `["https://api.example.com"]`. Default: the origin of `baseUrl` and the page's origin.
   * Requests to any other origin are sent unchanged, so the token never reaches a third party.
   */
  tokenOrigins?: readonly string[];
}

/** The detail of a `logout` event. */
export interface LogoutEvent {
  /** True after `logoutEverywhere()`, which ended every session of the user. */
  readonly everywhere: boolean;
  /** True when another tab of the same origin logged out. */
  readonly otherTab: boolean;
}

/** The events of a session and their listeners. */
export interface SessionEvents {
  /** The user or the access token changed: login, renewal, restore, logout or expiry. */
  change: (user: SelloUser | null) => void;
  /** The server ended the session (revoked, reused or expired refresh token). */
  expired: (error: SelloClientError) => void;
  /** This tab or another tab of the origin logged out. */
  logout: (event: LogoutEvent) => void;
}

/** A browser session with a Sello auth server. Create one with `createSession`. */
export interface Session {
  /** The logged-in user, or null while no user is logged in or the session is being restored. */
  readonly user: SelloUser | null;

  /**
   * Logs in with a username and password and returns the user. The refresh token arrives as an
   * HttpOnly cookie, and other tabs of the origin receive the new session. Throws
   * SelloClientError, such as `invalid_credentials` or `rate_limited` (see `retryAfter`).
   */
  login(username: string, password: string): Promise<SelloUser>;

  /**
   * Logs out of this session in every tab of the origin. The tab's memory is cleared and `logout`
   * is emitted before the server is called. Throws when the server could not be reached, in
   * which case the refresh cookie may still work and a reload may restore the session.
   */
  logout(): Promise<void>;

  /**
   * Ends every session of the user on every device, then clears every tab of the origin. Throws
   * `not_logged_in` without a session, and keeps the session when the server call fails.
   */
  logoutEverywhere(): Promise<void>;

  /**
   * Resolves with a valid access token, renewing it first when it expires within `renewBefore`
   * seconds. Resolves with null when no user is logged in. Rejects with SelloClientError (such as
   * `network_error`) only when the token has expired and could not be renewed.
   */
  getAccessToken(): Promise<string | null>;

  /**
   * Renews the access token now and resolves with the new one, or null when the session ended.
   * With `rejectedToken`, renews only while that token is still the current one, so that many
   * requests rejected with `token_expired` at once cause a single renewal.
   */
  refresh(rejectedToken?: string): Promise<string | null>;

  /**
   * Restores the session from the refresh cookie with one silent refresh, unless a user is
   * already logged in. Resolves with the user, or null when there is no valid cookie.
   */
  restore(): Promise<SelloUser | null>;

  /**
   * Sends a request like `fetch`, with `Authorization: Bearer <token>` for the origins in
   * `tokenOrigins`. A 401 `token_expired` response causes one renewal and one retry. Every other
   * response, including other 401s and every 403, is returned unchanged.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;

  /** Reports whether requests to this URL receive the access token (see `tokenOrigins`). */
  sendsTokenTo(url: string | URL): boolean;

  /** Adds an event listener and returns a function that removes it. */
  on<E extends keyof SessionEvents>(event: E, listener: SessionEvents[E]): () => void;

  /** Stops the renewal timer and leaves the tab channel. Call it before discarding the session. */
  close(): void;
}
