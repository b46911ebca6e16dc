// The administration page: users and their roles, a user's sessions with revoke one and revoke
// all, and the latest audit events, through the auth server's admin API (role admin).

(async () => {
  const demo = window.SelloDemo;
  const AUDIT_LIMIT = 20;

  const pageMessage = document.getElementById("page-message");
  const content = document.getElementById("admin-content");
  const usersBody = document.getElementById("users");
  const usersStatus = document.getElementById("users-status");
  const usersError = document.getElementById("users-error");
  const sessionsSection = document.getElementById("sessions-section");
  const sessionsTitle = document.getElementById("sessions-title");
  const sessionsCaption = document.getElementById("sessions-caption");
  const sessionsTable = document.getElementById("sessions-table");
  const sessionsBody = document.getElementById("sessions");
  const sessionsEmpty = document.getElementById("sessions-empty");
  const sessionsStatus = document.getElementById("sessions-status");
  const sessionsError = document.getElementById("sessions-error");
  const revokeAll = document.getElementById("revoke-all");
  const auditBody = document.getElementById("audit");
  const auditCaption = document.getElementById("audit-caption");
  const auditEmpty = document.getElementById("audit-empty");
  const auditError = document.getElementById("audit-error");
  const auditRefresh = document.getElementById("audit-refresh");

  const started = await demo.startPage("/admin");
  if (started === null) {
    return;
  }
  const { session, user } = started;
  if (!user.roles.includes("admin")) {
    demo.showMessage(pageMessage, "admin.denied", { username: user.username });
    return;
  }
  content.hidden = false;

  let users = [];
  /** The user whose sessions are shown, or null. */
  let selected = null;
  let sessions = [];
  let events = [];

  function cell(tag, text) {
    const element = document.createElement(tag);
    if (text !== undefined) {
      element.textContent = text;
    }
    return element;
  }

  function timeCell(time) {
    const td = cell("td");
    const element = document.createElement("time");
    element.dateTime = new Date(time).toISOString();
    element.textContent = demo.formatTime(time);
    td.append(element);
    return td;
  }

  /** Returns a short browser description, such as "Chrome 120 · Linux", from a User-Agent. */
  function describeBrowser(userAgent) {
    if (!userAgent) {
      return demo.t("admin.unknownBrowser");
    }
    const browsers = [
      ["Edge", /Edg\/(\d+)/],
      ["Firefox", /Firefox\/(\d+)/],
      ["Chrome", /(?:Headless)?Chrome\/(\d+)/],
      ["Safari", /Version\/(\d+).*Safari/],
    ];
    const systems = [
      ["Android", /Android/],
      ["iOS", /iPhone|iPad/],
      ["Windows", /Windows/],
      ["macOS", /Mac OS X/],
      ["Linux", /Linux/],
    ];
    const browser = browsers.find(([, pattern]) => pattern.test(userAgent));
    const system = systems.find(([, pattern]) => pattern.test(userAgent));
    const parts = [];
    if (browser !== undefined) {
      parts.push(`${browser[0]} ${userAgent.match(browser[1])[1]}`);
    }
    if (system !== undefined) {
      parts.push(system[0]);
    }
    return parts.length > 0 ? parts.join(" · ") : userAgent.slice(0, 40);
  }

  function usernameOf(userId) {
    if (userId === null) {
      return "—";
    }
    return users.find((candidate) => candidate.id === userId)?.username ?? userId.slice(0, 8);
  }

  // Users

  function renderUsers() {
    usersBody.replaceChildren(
      ...users.map((account) => {
        const row = document.createElement("tr");
        const name = cell("th", account.username);
        name.scope = "row";
        const roles = cell(
          "td",
          account.roles.map(demo.roleName).join(", ") || demo.t("common.none"),
        );
        const state = cell("td");
        const badge = cell("span");
        badge.className = account.disabled ? "badge badge--muted" : "badge badge--ok";
        demo.setText(badge, account.disabled ? "admin.users.disabled" : "admin.users.active");
        state.append(badge);

        const actions = cell("td");
        const show = cell("button");
        show.type = "button";
        show.className = "button button--small";
        show.setAttribute("aria-expanded", String(selected?.id === account.id));
        show.setAttribute("aria-controls", "sessions-section");
        demo.setText(show, "admin.users.showSessions");
        demo.setLabel(show, "admin.users.showSessionsLabel", { username: account.username });
        show.addEventListener("click", () => selectUser(account));
        actions.append(show);

        row.append(name, roles, state, timeCell(account.createdAt), actions);
        return row;
      }),
    );
  }

  async function loadUsers() {
    demo.setText(usersStatus, "admin.users.loading");
    try {
      const data = await demo.callApi(session, "GET", "/admin/users?limit=100");
      users = data.users;
      demo.clearMessage(usersStatus);
      renderUsers();
    } catch (error) {
      demo.clearMessage(usersStatus);
      demo.showError(usersError, error);
    }
  }

  // Sessions

  function renderSessions() {
    if (selected === null) {
      sessionsSection.hidden = true;
      return;
    }
    sessionsSection.hidden = false;
    const userParams = { username: selected.username };
    demo.setText(sessionsTitle, "admin.sessions.title", userParams);
    demo.setText(sessionsCaption, "admin.sessions.caption", userParams);
    demo.setText(revokeAll, "admin.sessions.revokeAll", userParams);
    revokeAll.hidden = sessions.length === 0;
    sessionsTable.hidden = sessions.length === 0;
    sessionsEmpty.hidden = sessions.length > 0;
    demo.setText(sessionsEmpty, "admin.sessions.none", userParams);

    sessionsBody.replaceChildren(
      ...sessions.map((entry) => {
        const row = document.createElement("tr");
        const actions = cell("td");
        const revoke = cell("button");
        revoke.type = "button";
        revoke.className = "button button--small button--danger";
        demo.setText(revoke, "admin.sessions.revoke");
        demo.setLabel(revoke, "admin.sessions.revokeLabel", {
          username: selected.username,
          time: demo.formatTime(entry.createdAt),
        });
        revoke.addEventListener("click", () => revokeSession(entry, revoke));
        actions.append(revoke);

        row.append(
          timeCell(entry.createdAt),
          timeCell(entry.lastUsedAt),
          timeCell(entry.idleExpiresAt),
          cell("td", entry.ip ?? "—"),
          cell("td", describeBrowser(entry.userAgent)),
          actions,
        );
        return row;
      }),
    );
  }

  async function loadSessions() {
    const data = await demo.callApi(
      session,
      "GET",
      `/admin/users/${encodeURIComponent(selected.id)}/sessions`,
    );
    sessions = data.sessions.sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
    renderSessions();
  }

  async function selectUser(account) {
    selected = account;
    sessions = [];
    demo.clearMessage(sessionsStatus);
    demo.clearMessage(sessionsError);
    renderUsers();
    try {
      await loadSessions();
    } catch (error) {
      renderSessions();
      demo.showError(sessionsError, error);
    }
    sessionsTitle.focus();
  }

  async function revokeSession(entry, button) {
    button.disabled = true;
    demo.clearMessage(sessionsStatus);
    demo.clearMessage(sessionsError);
    try {
      await demo.callApi(session, "DELETE", `/admin/sessions/${encodeURIComponent(entry.id)}`);
      demo.showMessage(sessionsStatus, "admin.sessions.revoked");
      await loadSessions();
      await loadAudit();
    } catch (error) {
      demo.showError(sessionsError, error);
      button.disabled = false;
    }
  }

  revokeAll.addEventListener("click", async () => {
    const account = selected;
    revokeAll.disabled = true;
    demo.clearMessage(sessionsStatus);
    demo.clearMessage(sessionsError);
    try {
      const data = await demo.callApi(
        session,
        "DELETE",
        `/admin/users/${encodeURIComponent(account.id)}/sessions`,
      );
      demo.showMessage(sessionsStatus, "admin.sessions.revokedAll", {
        username: account.username,
        count: data.revoked,
      });
      await loadSessions();
      await loadAudit();
    } catch (error) {
      demo.showError(sessionsError, error);
    }
    revokeAll.disabled = false;
  });

  // Audit events

  function renderAudit() {
    demo.setText(auditCaption, "admin.audit.caption", { count: AUDIT_LIMIT });
    auditEmpty.hidden = events.length > 0;
    auditBody.replaceChildren(
      ...events.map((event) => {
        const row = document.createElement("tr");
        const kind = cell("td");
        const key = `audit.${event.type}`;
        const label = cell("span", demo.t(key) === key ? event.type : demo.t(key));
        const code = cell("code", event.type);
        code.className = "event-type";
        kind.append(label, " ", code);
        row.append(
          timeCell(event.time),
          kind,
          cell("td", usernameOf(event.userId)),
          cell("td", event.ip ?? "—"),
        );
        return row;
      }),
    );
  }

  async function loadAudit() {
    demo.clearMessage(auditError);
    try {
      const data = await demo.callApi(session, "GET", `/admin/audit?limit=${AUDIT_LIMIT}`);
      events = data.events;
      renderAudit();
    } catch (error) {
      demo.showError(auditError, error);
    }
  }

  auditRefresh.addEventListener("click", () => {
    loadUsers().then(loadAudit);
  });

  demo.onLanguageChange(() => {
    renderUsers();
    renderSessions();
    renderAudit();
  });

  await loadUsers();
  await loadAudit();
})();
