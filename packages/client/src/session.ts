import { createElapsedClock } from "./clock.js";
import { isTransient, SelloClientError, type SelloClientErrorCode } from "./errors.js";
import { isTokenExpiredBody, parseJson, postToAuthServer } from "./http.js";
import type { LogoutEvent, SelloUser, Session, SessionEvents, SessionOptions } from "./types.js";

/** The Web Lock that serialises refreshes across the tabs of an origin. */
const LOCK_NAME = "sello-refresh";
/** The BroadcastChannel on which tabs share new tokens, logouts and expiries. */
const CHANNEL_NAME = "sello";
const DEFAULT_RENEW_BEFORE_SECONDS = 60;
/** Retries of a refresh or logout that failed without a response or with 429 or 5xx. */
const MAX_RETRIES = 3;
/** Delay before the first retry, in milliseconds. It doubles for each further retry. */
const FIRST_RETRY_DELAY_MS = 500;
/**
 * How long a tab that waited for the refresh lock waits for the holder's result message, in
 * milliseconds. The lock grant and the message travel separately, so the grant may come first.
 */
const PEER_RESULT_WAIT_MS = 200;
/** Shortest delay of the renewal timer, in milliseconds, so a tiny `expires_in` cannot loop. */
const MIN_TIMER_DELAY_MS = 5_000;
/** Delay before the timer tries again after a renewal failed without ending the session. */
const TIMER_RETRY_DELAY_MS = 30_000;
/**
 * How long after a session ended the tab ignores tokens from other tabs, in milliseconds. A tab
 * whose refresh crossed the logout may still broadcast a token of the revoked session.
 */
const END_QUARANTINE_MS = 1_000;

/** A message between the tabs of an origin. `base` keeps sessions of different servers apart. */
type TabMessage =
  | {
      type: "token";
      base: string;
      token: string;
      user: SelloUser;
      /** Milliseconds until the token expires, when the message was sent. */
      remaining: number;
      /** The token's whole lifetime in milliseconds. */
      lifetime: number;
    }
  | { type: "logout"; base: string; everywhere: boolean }
  | { type: "expired"; base: string; code: SelloClientErrorCode; message: string };

/** `unknown` until the first restore or login decides, `ended` after a logout or expiry. */
type Status = "unknown" | "active" | "ended";

/**
 * Creates a browser session with a Sello auth server. Unless `restore` is false, the session
 * starts restoring itself from the refresh cookie at once.
 */
export function createSession(options: SessionOptions): Session {
  return new BrowserSession(options);
}

class BrowserSession implements Session {
  readonly #base: string;
  readonly #loginUrl: string | undefined;
  /** In milliseconds. */
  readonly #renewBefore: number;
  readonly #fetch: typeof fetch;
  readonly #autoRenew: boolean;
  readonly #tokenOrigins: Set<string>;
  readonly #clock = createElapsedClock();
  readonly #channel: BroadcastChannel | null = null;
  readonly #listeners: { [E in keyof SessionEvents]: Set<SessionEvents[E]> } = {
    change: new Set(),
    expired: new Set(),
    logout: new Set(),
  };

  #status: Status = "unknown";
  #token: string | null = null;
  #user: SelloUser | null = null;
  /** When the token expires, on `#clock`. */
  #expiresAt = 0;
  /** The token's whole lifetime in milliseconds. */
  #lifetime = 0;
  /** Increases on every change of the session, so an operation can tell that it was overtaken. */
  #generation = 0;
  #renewal: Promise<string | null> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #changeWaiters = new Set<() => void>();
  #ignoreTokensUntil = 0;
  #closed = false;

  constructor(options: SessionOptions) {
    const pageUrl = typeof location === "object" ? location.href : undefined;
    if (typeof options?.baseUrl !== "string") {
      throw new TypeError('createSession needs baseUrl, the Sello server URL, such as "/".');
    }
    const renewBefore = options.renewBefore ?? DEFAULT_RENEW_BEFORE_SECONDS;
    if (!(renewBefore >= 0 && Number.isFinite(renewBefore))) {
      throw new TypeError("renewBefore must be a number of seconds of at least 0, such as 60.");
    }

    const base = new URL(options.baseUrl, pageUrl);
    this.#base = base.href.replace(/\/+$/, "");
    this.#loginUrl = options.loginUrl;
    this.#renewBefore = renewBefore * 1000;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#autoRenew = options.autoRenew !== false;

    const origins = options.tokenOrigins ?? [base.origin, ...(pageUrl ? [pageUrl] : [])];
    this.#tokenOrigins = new Set(origins.map((origin) => new URL(origin).origin));

    if (typeof BroadcastChannel === "function") {
      this.#channel = new BroadcastChannel(CHANNEL_NAME);
      this.#channel.onmessage = (event) => this.#receive(event.data);
    }

    if (options.restore !== false) {
      // A restore without a response leaves the status `unknown`, so the next getAccessToken
      // tries again. A 401 means that there is no session to restore.
      this.restore().catch(() => undefined);
    }
  }

  get user(): SelloUser | null {
    return this.#user;
  }

  async login(username: string, password: string): Promise<SelloUser> {
    const started = this.#clock();
    const body = await postToAuthServer(this.#fetch, {
      url: `${this.#base}/auth/login`,
      json: { username, password },
    });
    const tokens = readTokenResponse(body);

    this.#activate(tokens.token, tokens.user, tokens.lifetime, started + tokens.lifetime);
    this.#share();
    return tokens.user;
  }

  async logout(): Promise<void> {
    const token = this.#validToken();
    this.#endSession({ type: "logout", base: this.#base, everywhere: false });
    await this.#serverLogout(token);
  }

  async logoutEverywhere(): Promise<void> {
    const token = await this.getAccessToken();
    if (token === null) {
      throw new SelloClientError("not_logged_in");
    }

    const url = `${this.#base}/auth/logout-all`;
    const generation = this.#generation;
    try {
      await this.#withRetries(
        () => postToAuthServer(this.#fetch, { url, bearer: token }),
        generation,
      );
    } catch (error) {
      if (!(error instanceof SelloClientError) || error.code !== "token_expired") {
        throw error;
      }
      const renewed = await this.refresh(token);
      if (renewed === null) {
        throw new SelloClientError("not_logged_in");
      }
      await postToAuthServer(this.#fetch, { url, bearer: renewed });
    }

    this.#endSession({ type: "logout", base: this.#base, everywhere: true });
  }

  async getAccessToken(): Promise<string | null> {
    if (this.#status === "ended") {
      return null;
    }
    if (this.#status === "unknown") {
      await this.restore();
      return this.#token;
    }
    if (this.#expiresAt - this.#clock() > this.#renewalLead()) {
      return this.#token;
    }

    try {
      return await this.#renew();
    } catch (error) {
      // A renewal that failed without ending the session does not stop a token that is still valid.
      const token = this.#validToken();
      if (token !== null) {
        return token;
      }
      throw error;
    }
  }

  async refresh(rejectedToken?: string): Promise<string | null> {
    if (rejectedToken !== undefined && rejectedToken !== this.#token) {
      return this.getAccessToken();
    }
    if (this.#status === "ended") {
      return null;
    }
    return this.#renew();
  }

  async restore(): Promise<SelloUser | null> {
    if (this.#status !== "active") {
      await this.#renew();
    }
    return this.#user;
  }

  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const request = new Request(input, init);
    if (!this.sendsTokenTo(request.url) || request.headers.has("authorization")) {
      return this.#fetch(request);
    }
    const token = await this.getAccessToken();
    if (token === null) {
      return this.#fetch(request);
    }

    const response = await this.#fetch(withBearer(request.clone(), token));
    if (response.status !== 401 || !isTokenExpiredBody(parseJson(await response.clone().text()))) {
      return response;
    }

    let renewed: string | null;
    try {
      renewed = await this.refresh(token);
    } catch {
      return response;
    }
    if (renewed === null || renewed === token) {
      return response;
    }
    return this.#fetch(withBearer(request, renewed));
  }

  sendsTokenTo(url: string | URL): boolean {
    try {
      const pageUrl = typeof location === "object" ? location.href : undefined;
      return this.#tokenOrigins.has(new URL(url, pageUrl).origin);
    } catch {
      return false;
    }
  }

  on<E extends keyof SessionEvents>(event: E, listener: SessionEvents[E]): () => void {
    const listeners = this.#listeners[event] as Set<SessionEvents[E]> | undefined;
    if (listeners === undefined) {
      throw new TypeError(
        `Unknown session event "${String(event)}": use change, expired or logout.`,
      );
    }
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#channel?.close();
  }

  /** The current token while it has not expired, else null. */
  #validToken(): string | null {
    return this.#status === "active" && this.#expiresAt > this.#clock() ? this.#token : null;
  }

  /** How long before expiry the token is renewed: `renewBefore`, at most half the lifetime. */
  #renewalLead(): number {
    return Math.min(this.#renewBefore, this.#lifetime / 2);
  }

  /** Joins the renewal in flight, or starts one. Every caller in the tab shares one promise. */
  #renew(): Promise<string | null> {
    if (this.#renewal === null) {
      this.#renewal = this.#renewAcrossTabs().finally(() => {
        this.#renewal = null;
      });
    }
    return this.#renewal;
  }

  /**
   * Refreshes under the `sello-refresh` Web Lock, so that one tab of the origin refreshes at a
   * time. A tab that had to wait for the lock uses the token that the holder broadcast instead of
   * refreshing again. Without the Web Locks API, each tab refreshes on its own, and the server's
   * grace window returns the same successor to tabs that present the same cookie.
   */
  async #renewAcrossTabs(): Promise<string | null> {
    const generation = this.#generation;
    const locks = typeof navigator === "object" ? navigator.locks : undefined;
    if (locks === undefined) {
      return this.#refreshOverNetwork(generation);
    }

    const underLock = async (waited: boolean): Promise<string | null> => {
      if (waited && this.#generation === generation) {
        await this.#waitForChange(PEER_RESULT_WAIT_MS);
      }
      if (this.#generation !== generation) {
        return this.#token;
      }
      return this.#refreshOverNetwork(generation);
    };

    const result = await locks.request(LOCK_NAME, { ifAvailable: true }, (lock) =>
      lock === null ? undefined : underLock(false),
    );
    if (result !== undefined) {
      return result;
    }
    return locks.request(LOCK_NAME, () => underLock(true));
  }

  /**
   * Sends POST /auth/refresh with the cookie. A 401 ends the session. Errors without a response,
   * 429 and 5xx are retried with backoff and then thrown, keeping the session. A result that
   * arrives after the session changed (a login, logout or another tab's token) is discarded.
   */
  async #refreshOverNetwork(generation: number): Promise<string | null> {
    let started = 0;
    let body: unknown;
    try {
      body = await this.#withRetries(() => {
        started = this.#clock();
        return postToAuthServer(this.#fetch, { url: `${this.#base}/auth/refresh` });
      }, generation);
    } catch (error) {
      if (this.#generation !== generation) {
        return this.#token;
      }
      if (error instanceof SelloClientError && error.status === 401) {
        this.#expire(error);
        return null;
      }
      throw error;
    }

    if (this.#generation !== generation) {
      return this.#token;
    }
    const tokens = readTokenResponse(body);
    this.#activate(tokens.token, tokens.user, tokens.lifetime, started + tokens.lifetime);
    this.#share();
    return tokens.token;
  }

  /** Runs `attempt`, retrying transient failures while the session stays as it was. */
  async #withRetries<T>(attempt: () => Promise<T>, generation: number): Promise<T> {
    for (let retry = 0; ; retry++) {
      try {
        return await attempt();
      } catch (error) {
        const overtaken = this.#generation !== generation || this.#closed;
        if (!isTransient(error) || retry >= MAX_RETRIES || overtaken) {
          throw error;
        }
        await delay(FIRST_RETRY_DELAY_MS * 2 ** retry);
      }
    }
  }

  /** Calls POST /auth/logout. Falls back to the cookie alone when the server rejects the token. */
  async #serverLogout(token: string | null): Promise<void> {
    const url = `${this.#base}/auth/logout`;
    const generation = this.#generation;
    try {
      await this.#withRetries(
        () => postToAuthServer(this.#fetch, { url, bearer: token }),
        generation,
      );
    } catch (error) {
      if (token === null || !(error instanceof SelloClientError) || error.status !== 401) {
        throw error;
      }
      await this.#withRetries(() => postToAuthServer(this.#fetch, { url }), generation);
    }
  }

  #activate(token: string, user: SelloUser, lifetime: number, expiresAt: number): void {
    this.#token = token;
    this.#user = user;
    this.#lifetime = lifetime;
    this.#expiresAt = expiresAt;
    this.#status = "active";
    this.#changed();
    this.#schedule();
    this.#emit("change", user);
  }

  /** Sends the current token to the other tabs, with its remaining lifetime. */
  #share(): void {
    if (this.#token === null || this.#user === null) {
      return;
    }
    this.#post({
      type: "token",
      base: this.#base,
      token: this.#token,
      user: this.#user,
      remaining: this.#expiresAt - this.#clock(),
      lifetime: this.#lifetime,
    });
  }

  /** Clears the memory. Returns whether a user was logged in, after emitting `change`. */
  #clear(): boolean {
    const wasActive = this.#status === "active";
    this.#status = "ended";
    this.#token = null;
    this.#user = null;
    this.#expiresAt = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#changed();
    if (wasActive) {
      this.#ignoreTokensUntil = this.#clock() + END_QUARANTINE_MS;
      this.#emit("change", null);
    }
    return wasActive;
  }

  /** Ends the session locally after a logout, notifies the other tabs, and emits `logout`. */
  #endSession(message: Extract<TabMessage, { type: "logout" }>): void {
    const wasActive = this.#clear();
    this.#post(message);
    if (wasActive) {
      this.#emit("logout", { everywhere: message.everywhere, otherTab: false });
    }
  }

  /**
   * Ends the session after the server rejected the refresh token. A failed restore, when no user
   * was logged in, ends it silently.
   */
  #expire(error: SelloClientError): void {
    if (!this.#clear()) {
      return;
    }
    this.#post({ type: "expired", base: this.#base, code: error.code, message: error.message });
    this.#emit("expired", error);
    this.#redirectToLogin();
  }

  #receive(data: unknown): void {
    const message = data as TabMessage | null;
    if (typeof message !== "object" || message === null || message.base !== this.#base) {
      return;
    }

    if (message.type === "token") {
      const valid =
        typeof message.token === "string" &&
        isUser(message.user) &&
        message.lifetime > 0 &&
        typeof message.remaining === "number";
      if (valid && this.#clock() >= this.#ignoreTokensUntil) {
        const user = freezeUser(message.user);
        this.#activate(message.token, user, message.lifetime, this.#clock() + message.remaining);
      }
    } else if (message.type === "logout") {
      if (this.#clear()) {
        this.#emit("logout", {
          everywhere: message.everywhere === true,
          otherTab: true,
        } satisfies LogoutEvent);
      }
    } else if (message.type === "expired") {
      if (this.#clear()) {
        this.#emit(
          "expired",
          new SelloClientError(message.code, { message: message.message, status: 401 }),
        );
        this.#redirectToLogin();
      }
    }
  }

  #post(message: TabMessage): void {
    if (!this.#closed) {
      this.#channel?.postMessage(message);
    }
  }

  #redirectToLogin(): void {
    if (this.#loginUrl !== undefined && typeof location === "object") {
      location.assign(this.#loginUrl);
    }
  }

  /** Sets the timer that renews the token `renewBefore` seconds before it expires. */
  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#autoRenew || this.#status !== "active" || this.#closed) {
      return;
    }
    const due = this.#expiresAt - this.#renewalLead() - this.#clock();
    this.#timer = setTimeout(() => this.#onTimer(), Math.max(due, MIN_TIMER_DELAY_MS));
  }

  #onTimer(): void {
    this.#timer = undefined;
    if (this.#status !== "active") {
      return;
    }
    if (this.#expiresAt - this.#clock() > this.#renewalLead()) {
      this.#schedule();
      return;
    }

    this.#renew().catch(() => {
      // Timer attempts stop once the token has expired; the next request tries again.
      if (this.#timer === undefined && this.#validToken() !== null && !this.#closed) {
        this.#timer = setTimeout(() => this.#onTimer(), TIMER_RETRY_DELAY_MS);
      }
    });
  }

  #changed(): void {
    this.#generation++;
    const waiters = [...this.#changeWaiters];
    this.#changeWaiters.clear();
    for (const wake of waiters) {
      wake();
    }
  }

  /** Resolves at the next change of the session, or after `timeoutMs` milliseconds. */
  #waitForChange(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#changeWaiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      this.#changeWaiters.add(wake);
    });
  }

  #emit<E extends keyof SessionEvents>(event: E, detail: Parameters<SessionEvents[E]>[0]): void {
    for (const listener of [...this.#listeners[event]]) {
      try {
        (listener as (value: typeof detail) => void)(detail);
      } catch (error) {
        // A failing listener must not break the session; the browser reports its error.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** Checks a login or refresh response. The access token itself is never decoded. */
function readTokenResponse(body: unknown): { token: string; lifetime: number; user: SelloUser } {
  const value = body as
    | { access_token?: unknown; expires_in?: unknown; user?: unknown }
    | undefined;
  const expiresIn = value?.expires_in;
  if (
    typeof value?.access_token !== "string" ||
    typeof expiresIn !== "number" ||
    !(expiresIn > 0) ||
    !isUser(value.user)
  ) {
    throw new SelloClientError("invalid_response", {
      message: "The token response lacks a valid access_token, expires_in or user.",
    });
  }
  return { token: value.access_token, lifetime: expiresIn * 1000, user: freezeUser(value.user) };
}

function isUser(value: unknown): value is SelloUser {
  const user = value as Partial<Record<keyof SelloUser, unknown>> | null;
  return (
    typeof user === "object" &&
    user !== null &&
    typeof user.id === "string" &&
    typeof user.username === "string" &&
    isStringArray(user.roles) &&
    isStringArray(user.permissions)
  );
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

function freezeUser(user: SelloUser): SelloUser {
  return Object.freeze({
    id: user.id,
    username: user.username,
    roles: Object.freeze([...user.roles]),
    permissions: Object.freeze([...user.permissions]),
  });
}

/** Copies a request with `Authorization: Bearer <token>`. */
function withBearer(request: Request, token: string): Request {
  const headers = new Headers(request.headers);
  headers.set("authorization", `Bearer ${token}`);
  return new Request(request, { headers });
}

function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
