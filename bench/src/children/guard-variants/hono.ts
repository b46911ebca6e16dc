import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { type BenchServer, RESOURCE_BODY, RESOURCE_PATH } from "./settings.js";

export async function listenHono(app: Hono): Promise<BenchServer> {
  app.get(RESOURCE_PATH, (c) => c.json(RESOURCE_BODY));
  return new Promise<BenchServer>((resolve) => {
    const server = serve(
      { fetch: app.fetch, hostname: "127.0.0.1", port: 0 },
      (info: AddressInfo) => {
        resolve({
          port: info.port,
          close: () =>
            new Promise<void>((done) => {
              if ("closeAllConnections" in server) {
                server.closeAllConnections();
              }
              server.close(() => done());
            }),
        });
      },
    );
  });
}

/** Hono on @hono/node-server with no authentication. */
export async function startBareHono(): Promise<BenchServer> {
  return listenHono(new Hono());
}
