import type { Store } from "@sello/core";
import { SelloError } from "@sello/core";
import type { FastifyInstance } from "fastify";

/** Registers /healthz (the process is up) and /readyz (the store responds too). */
export async function healthRoutes(app: FastifyInstance, options: { store: Store }): Promise<void> {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async () => {
    try {
      await options.store.ping();
    } catch (error) {
      throw new SelloError("service_unavailable", { reason: "store_unavailable", cause: error });
    }
    return { status: "ready" };
  });
}
