import type { Store } from "@sello/core";
import { SelloError } from "@sello/core";
import type { FastifyInstance } from "fastify";
import { routeDoc } from "../http/route-docs.js";

export interface HealthRoutesOptions {
  store: Store;
  /**
   * Further readiness checks, such as the Redis connections, each throwing `service_unavailable`
   * when the instance should not receive traffic.
   */
  checks?: ReadonlyArray<() => void>;
}

/**
 * Registers /healthz (the process is up) and /readyz (the store responds, and every further
 * check passes).
 */
export async function healthRoutes(
  app: FastifyInstance,
  options: HealthRoutesOptions,
): Promise<void> {
  const liveDoc = routeDoc("health", "Liveness", "Answers 200 while the process runs.");
  app.get("/healthz", { schema: liveDoc }, async () => ({ status: "ok" }));

  const readyDoc = routeDoc(
    "health",
    "Readiness",
    "Answers 200 when the database answers and, with Redis, the revocation feed is current and the login-counter connection is up; otherwise 503 service_unavailable.",
  );
  app.get("/readyz", { schema: readyDoc }, async () => {
    try {
      await options.store.ping();
    } catch (error) {
      throw new SelloError("service_unavailable", { reason: "store_unavailable", cause: error });
    }
    for (const check of options.checks ?? []) {
      check();
    }
    return { status: "ready" };
  });
}
