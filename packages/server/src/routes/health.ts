import type { Store } from "@sello/core";
import { SelloError } from "@sello/core";
import type { FastifyInstance } from "fastify";

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
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async () => {
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
