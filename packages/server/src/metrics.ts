import type { FastifyInstance } from "fastify";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { responseErrorCodes } from "./http/errors.js";

/** Audit event types counted as logins, by outcome. */
const LOGIN_OUTCOMES: Record<string, string> = {
  "login.success": "success",
  "login.failure": "failure",
  "login.rate_limited": "rate_limited",
};

/** Audit event types that revoke sessions or tokens, by kind. */
const REVOCATION_KINDS: Record<string, string> = {
  logout: "logout",
  "logout.all": "logout_all",
  "password.changed": "password_change",
  "token.revoked": "token_revocation",
  "refresh.reused": "refresh_reuse",
  "admin.session_revoked": "admin",
  "admin.sessions_revoked": "admin",
  "admin.user_disabled": "admin",
  "admin.user_deleted": "admin",
};

/**
 * The server's Prometheus metrics, in a registry of their own so that several servers in one
 * process (as in tests) never share counters.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #requests: Histogram<"method" | "route" | "status">;
  readonly #logins: Counter<"outcome">;
  readonly #refreshes: Counter<"outcome">;
  readonly #reuse: Counter;
  readonly #revocations: Counter<"kind">;
  readonly #rateLimited: Counter;

  constructor(signingKeyAgeSeconds: () => number) {
    collectDefaultMetrics({ register: this.registry, prefix: "sello_process_" });

    this.#requests = new Histogram({
      name: "sello_http_request_duration_seconds",
      help: "HTTP request latency by method, route pattern and status code.",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.#logins = new Counter({
      name: "sello_logins_total",
      help: "Login attempts by outcome: success, failure or rate_limited.",
      labelNames: ["outcome"],
      registers: [this.registry],
    });
    this.#refreshes = new Counter({
      name: "sello_refreshes_total",
      help: "Refresh requests by outcome: success or the error code returned.",
      labelNames: ["outcome"],
      registers: [this.registry],
    });
    this.#reuse = new Counter({
      name: "sello_refresh_reuse_detected_total",
      help: "Rotated refresh tokens presented after the grace window; each revoked its session.",
      registers: [this.registry],
    });
    this.#revocations = new Counter({
      name: "sello_revocations_total",
      help: "Revocations of sessions or access tokens, by kind.",
      labelNames: ["kind"],
      registers: [this.registry],
    });
    this.#rateLimited = new Counter({
      name: "sello_rate_limited_total",
      help: "Requests rejected with 429 rate_limited.",
      registers: [this.registry],
    });
    new Gauge({
      name: "sello_signing_key_age_seconds",
      help: "Age of the current signing key, in seconds since it started signing.",
      registers: [this.registry],
      collect() {
        this.set(signingKeyAgeSeconds());
      },
    });
  }

  /** Counts an audit event in the login, reuse and revocation metrics it belongs to. */
  observeAuditEvent(type: string): void {
    const outcome = LOGIN_OUTCOMES[type];
    if (outcome !== undefined) {
      this.#logins.inc({ outcome });
    }
    const kind = REVOCATION_KINDS[type];
    if (kind !== undefined) {
      this.#revocations.inc({ kind });
    }
    if (type === "refresh.reused") {
      this.#reuse.inc();
    }
  }

  /** Adds the hooks that time every request and count refreshes and rate-limited responses. */
  install(app: FastifyInstance): void {
    app.addHook("onResponse", async (request, reply) => {
      const route = request.routeOptions.url ?? "unmatched";
      const status = reply.statusCode;
      this.#requests.observe(
        { method: request.method, route, status: String(status) },
        reply.elapsedTime / 1000,
      );
      if (status === 429) {
        this.#rateLimited.inc();
      }
      if (route === "/auth/refresh" && request.method === "POST") {
        const outcome =
          status === 200 ? "success" : (responseErrorCodes.get(request) ?? String(status));
        this.#refreshes.inc({ outcome });
      }
    });
  }
}
