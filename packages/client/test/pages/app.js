// The test application: creates a session from the query string of the page and records its
// events, so the tests can drive it with page.evaluate. Query parameters: renewBefore (seconds),
// loginUrl, autoRenew=0, lib=jquery|axios.
(() => {
  const params = new URLSearchParams(location.search);
  const options = { baseUrl: "/" };
  if (params.has("renewBefore")) {
    options.renewBefore = Number(params.get("renewBefore"));
  }
  if (params.has("loginUrl")) {
    options.loginUrl = params.get("loginUrl");
  }
  if (params.get("autoRenew") === "0") {
    options.autoRenew = false;
  }

  const session = Sello.createSession(options);
  const events = [];
  session.on("change", (user) => events.push({ type: "change", username: user?.username ?? null }));
  session.on("expired", (error) => events.push({ type: "expired", code: error.code }));
  session.on("logout", (event) => events.push({ type: "logout", ...event }));

  if (params.get("lib") === "jquery") {
    Sello.attachToJQuery(session, jQuery);
  }
  if (params.get("lib") === "axios") {
    Sello.attachToAxios(session, axios);
  }
  window.testApp = { session, events };
})();
