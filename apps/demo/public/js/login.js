// The login page: signs in with the Sello client and returns to the page named by `next`.

(async () => {
  const demo = window.SelloDemo;
  const params = new URLSearchParams(location.search);
  const next = demo.safeNextPage(params.get("next"));

  const form = document.getElementById("login-form");
  const username = document.getElementById("username");
  const password = document.getElementById("password");
  const submit = document.getElementById("login-submit");
  const notice = document.getElementById("notice");
  const loginError = document.getElementById("login-error");

  await demo.startLanguage();

  const reasons = { ended: "login.reason.ended", "signed-out": "login.reason.signedOut" };
  const reason = reasons[params.get("reason")];
  if (reason !== undefined) {
    demo.showMessage(notice, reason);
  }

  // No loginUrl here: this page is the login page.
  const session = Sello.createSession({ baseUrl: "/" });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    demo.clearMessage(loginError);
    const name = username.value.trim();
    if (name === "" || password.value === "") {
      demo.showMessage(loginError, "login.missingFields");
      (name === "" ? username : password).focus();
      return;
    }

    submit.disabled = true;
    demo.setText(submit, "login.submitting");
    try {
      await session.login(name, password.value);
      location.assign(next);
      return;
    } catch (error) {
      if (error.code === "rate_limited" && error.retryAfter > 0) {
        demo.showMessage(loginError, "login.rateLimited", { seconds: error.retryAfter });
      } else {
        demo.showError(loginError, error);
      }
      password.value = "";
      password.focus();
    }
    submit.disabled = false;
    demo.setText(submit, "login.submit");
  });

  renderDemoAccounts().catch((error) => console.error(error));

  // A visitor who is still signed in (a valid refresh cookie) goes straight on.
  const user = await session.restore().catch(() => null);
  if (user !== null) {
    location.replace(next);
  }

  /** Lists the demo accounts, which the server returns only when it created them. */
  async function renderDemoAccounts() {
    const response = await fetch("/demo/accounts", { headers: { accept: "application/json" } });
    const { accounts } = await response.json();
    if (!Array.isArray(accounts) || accounts.length === 0) {
      return;
    }

    const rows = document.getElementById("demo-account-rows");
    for (const account of accounts) {
      const row = document.createElement("tr");

      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = account.username;

      const secret = document.createElement("td");
      const code = document.createElement("code");
      code.textContent = account.password;
      secret.append(code);

      const role = document.createElement("td");
      const roleName = document.createElement("span");
      roleName.className = "role-badge";
      demo.setText(roleName, `role.${account.role}`);
      const can = document.createElement("span");
      can.className = "hint";
      demo.setText(can, `login.accounts.can.${account.role}`);
      role.append(roleName, " ", can);

      const action = document.createElement("td");
      const use = document.createElement("button");
      use.type = "button";
      use.className = "button button--small";
      demo.setText(use, "login.accounts.use");
      demo.setLabel(use, "login.accounts.useLabel", { username: account.username });
      use.addEventListener("click", () => {
        username.value = account.username;
        password.value = account.password;
        submit.focus();
      });
      action.append(use);

      row.append(name, secret, role, action);
      rows.append(row);
    }
    document.getElementById("demo-accounts").hidden = false;
  }
})();
