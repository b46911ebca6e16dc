// Shared code of the demo pages, loaded as a classic script after sello.global.js. It defines the
// global `SelloDemo`: the page language and its dictionary, the Sello session, the page header,
// messages, and calls to the notes and admin APIs.

window.SelloDemo = (() => {
  const LANGUAGES = ["en", "es"];
  /** The one item the demo keeps in localStorage: the chosen language. Tokens stay in memory. */
  const LANGUAGE_KEY = "sello-demo-language";
  /** The pages that the login page may return to after signing in. */
  const PAGES = ["/notes", "/admin", "/jquery"];

  const dictionaries = new Map();
  const languageListeners = new Set();
  let language = "en";
  /** The path of the current page, such as `/notes`, for the login page's `next` parameter. */
  let currentPage;

  // Language

  /**
   * Returns the stored choice, else the first of the browser's languages that the demo has
   * (Spanish for any `es*` tag), else English.
   */
  function detectLanguage() {
    const stored = readStoredLanguage();
    if (stored !== null) {
      return stored;
    }
    const tags = navigator.languages?.length > 0 ? navigator.languages : [navigator.language];
    for (const tag of tags) {
      const primary = String(tag ?? "")
        .toLowerCase()
        .split("-")[0];
      if (LANGUAGES.includes(primary)) {
        return primary;
      }
    }
    return "en";
  }

  function readStoredLanguage() {
    try {
      const value = localStorage.getItem(LANGUAGE_KEY);
      return LANGUAGES.includes(value) ? value : null;
    } catch {
      // Storage is unavailable (disabled by the user or a policy): fall back to the browser.
      return null;
    }
  }

  async function loadDictionary(code) {
    if (!dictionaries.has(code)) {
      const response = await fetch(`/static/i18n/${code}.json`);
      if (!response.ok) {
        throw new Error(`The ${code} dictionary failed to load: HTTP ${response.status}.`);
      }
      dictionaries.set(code, await response.json());
    }
  }

  /** Returns the text of `key` in the page language, with `{name}` placeholders filled in. */
  function t(key, params) {
    const text = dictionaries.get(language)?.[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (placeholder, name) =>
      params !== undefined && name in params ? String(params[name]) : placeholder,
    );
  }

  function hasText(key) {
    return dictionaries.get(language)?.[key] !== undefined;
  }

  /** Sets an element's text and keeps the key, so that a language switch translates it again. */
  function setText(element, key, params) {
    element.dataset.i18n = key;
    if (params === undefined) {
      delete element.dataset.i18nParams;
    } else {
      element.dataset.i18nParams = JSON.stringify(params);
    }
    element.textContent = t(key, params);
  }

  /** Sets an element's aria-label like `setText` sets its text. */
  function setLabel(element, key, params) {
    element.dataset.i18nLabel = key;
    if (params === undefined) {
      delete element.dataset.i18nLabelParams;
    } else {
      element.dataset.i18nLabelParams = JSON.stringify(params);
    }
    element.setAttribute("aria-label", t(key, params));
  }

  function readParams(text) {
    return text === undefined ? undefined : JSON.parse(text);
  }

  function translatePage() {
    document.documentElement.lang = language;
    for (const element of document.querySelectorAll("[data-i18n]")) {
      element.textContent = t(element.dataset.i18n, readParams(element.dataset.i18nParams));
    }
    for (const element of document.querySelectorAll("[data-i18n-label]")) {
      const params = readParams(element.dataset.i18nLabelParams);
      element.setAttribute("aria-label", t(element.dataset.i18nLabel, params));
    }
    for (const button of document.querySelectorAll("[data-language]")) {
      button.setAttribute("aria-pressed", String(button.dataset.language === language));
    }
  }

  /** Loads the dictionary, translates the page and calls the language listeners. */
  async function setLanguage(code, remember) {
    await loadDictionary(code);
    language = code;
    if (remember) {
      try {
        localStorage.setItem(LANGUAGE_KEY, code);
      } catch {
        // Without storage the choice lasts until the page is left.
      }
    }
    translatePage();
    for (const listener of languageListeners) {
      listener(code);
    }
  }

  /** Calls `listener` after every language switch, to render dynamic content again. */
  function onLanguageChange(listener) {
    languageListeners.add(listener);
  }

  function bindLanguageSwitch() {
    for (const button of document.querySelectorAll("[data-language]")) {
      button.addEventListener("click", () => {
        setLanguage(button.dataset.language, true).catch((error) => console.error(error));
      });
    }
  }

  /** Sets the page language and shows the page, which stays hidden until it is translated. */
  async function startLanguage() {
    bindLanguageSwitch();
    try {
      await setLanguage(detectLanguage(), false);
    } catch (error) {
      // The page stays usable with the English text of its HTML.
      console.error(error);
    } finally {
      document.documentElement.classList.remove("is-loading");
    }
  }

  function formatTime(time) {
    const format = new Intl.DateTimeFormat(language, { dateStyle: "medium", timeStyle: "short" });
    return format.format(new Date(time));
  }

  function roleName(role) {
    return hasText(`role.${role}`) ? t(`role.${role}`) : role;
  }

  // Messages and errors

  /** An error response of the demo's APIs, with the Sello error code. */
  class ApiError extends Error {
    constructor(code, status, retryAfter) {
      super(`The request failed with ${code} (HTTP ${status}).`);
      this.name = "ApiError";
      this.code = code;
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  /** Returns the Sello error code of anything a call can throw. */
  function errorCodeOf(error) {
    if (typeof error?.code === "string") {
      return error.code;
    }
    if (error instanceof TypeError) {
      // fetch rejects with a TypeError when no response arrives.
      return "network_error";
    }
    if (error instanceof SyntaxError) {
      return "invalid_response";
    }
    return "internal_error";
  }

  function showMessage(element, key, params) {
    setText(element, key, params);
  }

  function clearMessage(element) {
    delete element.dataset.i18n;
    delete element.dataset.i18nParams;
    element.textContent = "";
  }

  /**
   * Shows the message for an error. `messages` maps codes to page-specific keys, such as
   * `insufficient_permissions` to `notes.new.denied`; other codes get their `error.*` message.
   */
  function showError(element, error, messages = {}) {
    const code = errorCodeOf(error);
    const key = messages[code] ?? (hasText(`error.${code}`) ? `error.${code}` : "error.unknown");
    showMessage(element, key, { code });
  }

  // Session

  /** The login page URL that returns to `page` after signing in and shows `reason`. */
  function loginUrl(page, reason) {
    const query = new URLSearchParams();
    if (PAGES.includes(page)) {
      query.set("next", page);
    }
    if (reason !== undefined) {
      query.set("reason", reason);
    }
    const text = query.toString();
    return text === "" ? "/" : `/?${text}`;
  }

  /** Returns `next` when it names a demo page, else the notes page, so it cannot leave the site. */
  function safeNextPage(next) {
    return PAGES.includes(next) ? next : "/notes";
  }

  function goToLogin(reason) {
    location.assign(loginUrl(currentPage, reason));
  }

  /**
   * Creates the Sello session of a page. When the server ends the session, the client opens the
   * login page. When another tab signs out, this tab goes to the login page as well.
   */
  function createSession(page) {
    const session = Sello.createSession({ baseUrl: "/", loginUrl: loginUrl(page, "ended") });
    session.on("logout", (event) => {
      if (event.otherTab) {
        location.assign(loginUrl(page, "signed-out"));
      }
    });
    return session;
  }

  /**
   * Sends a JSON request with the session's access token and returns the parsed body, or null
   * for 204. After a 401, such as a revoked token, it refreshes once: that either gets a new
   * token and sends the request again, or ends the session, and then the login page opens.
   * Throws ApiError with the server's error code otherwise.
   */
  async function callApi(session, method, path, body) {
    const init = { method, headers: { accept: "application/json" } };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }

    let response = await session.fetch(path, init);
    if (response.status === 401) {
      const token = await session.refresh();
      if (token === null) {
        goToLogin("ended");
        throw new ApiError("session_expired", 401);
      }
      response = await session.fetch(path, init);
    }

    if (response.status === 204) {
      return null;
    }
    const data = await response.json();
    if (!response.ok) {
      const code = typeof data?.error === "string" ? data.error : "invalid_response";
      const retryAfter = Number(response.headers.get("retry-after")) || undefined;
      throw new ApiError(code, response.status, retryAfter);
    }
    return data;
  }

  // Page header

  function renderAccount(user) {
    const roles = user.roles.length > 0 ? user.roles.map(roleName).join(", ") : t("common.none");
    setText(document.getElementById("signed-in-as"), "header.signedInAs", {
      username: user.username,
      roles,
    });
  }

  function renderHeader(session, user) {
    renderAccount(user);
    onLanguageChange(() => renderAccount(user));
    document.getElementById("account").hidden = false;
    for (const item of document.querySelectorAll("[data-needs-role]")) {
      item.hidden = !user.roles.includes(item.dataset.needsRole);
    }

    const logout = document.getElementById("logout");
    logout.addEventListener("click", async () => {
      logout.disabled = true;
      setText(logout, "header.loggingOut");
      try {
        await session.logout();
      } catch (error) {
        // The tab has forgotten the session; only the server call failed.
        console.error(error);
      }
      location.assign(loginUrl(undefined, "signed-out"));
    });
  }

  /**
   * Starts a page that needs a signed-in user: sets the language, restores the session from the
   * refresh cookie and renders the header. Resolves with `{ session, user }`, or with null after
   * sending a visitor without a session to the login page.
   */
  async function startPage(page) {
    currentPage = page;
    await startLanguage();
    const session = createSession(page);

    let user;
    try {
      user = await session.restore();
    } catch (error) {
      showError(document.getElementById("page-message"), error);
      return null;
    }
    if (user === null) {
      location.replace(loginUrl(page));
      return null;
    }

    renderHeader(session, user);
    return { session, user };
  }

  return {
    t,
    setText,
    setLabel,
    formatTime,
    roleName,
    onLanguageChange,
    startLanguage,
    showMessage,
    clearMessage,
    showError,
    errorCodeOf,
    safeNextPage,
    goToLogin,
    callApi,
    startPage,
  };
})();
