import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type SelloKey, toPublicJwks } from "@sello/core/node";

/** The stub's behaviour for JWKS requests. */
export type JwksStubMode = "up" | "down" | "hang" | "reset" | "redirect";

/**
 * A JWKS server on 127.0.0.1 that the tests control: which keys it publishes, whether it is
 * reachable, and the Cache-Control it sends. It records every path requested.
 */
export class JwksStub {
  keys: SelloKey[] = [];
  mode: JwksStubMode = "up";
  cacheControl: string | undefined;
  /** A raw body to send instead of the key set, such as invalid JSON. */
  body: string | undefined;
  readonly paths: string[] = [];
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(keys: SelloKey[] = []): Promise<JwksStub> {
    const stub: JwksStub = new JwksStub(createServer((req, res) => stub.#answer(req.url, res)));
    stub.keys = keys;
    await new Promise<void>((resolve) => stub.#server.listen(0, "127.0.0.1", resolve));
    return stub;
  }

  get url(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/jwks.json`;
  }

  /** The number of requests for the JWKS path. */
  get fetches(): number {
    return this.paths.filter((path) => path === "/jwks.json").length;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #answer(path: string | undefined, res: import("node:http").ServerResponse): void {
    this.paths.push(path ?? "");
    if (path !== "/jwks.json") {
      res.writeHead(404).end();
      return;
    }

    switch (this.mode) {
      case "redirect":
        res.writeHead(302, { location: "/moved.json" }).end();
        return;
      case "hang":
        return;
      case "reset":
        res.socket?.destroy();
        return;
      case "down":
        res.writeHead(503, { "content-type": "text/plain" }).end("unavailable");
        return;
      case "up": {
        const headers: Record<string, string> = { "content-type": "application/jwk-set+json" };
        if (this.cacheControl !== undefined) {
          headers["cache-control"] = this.cacheControl;
        }
        res.writeHead(200, headers).end(this.body ?? JSON.stringify(toPublicJwks(this.keys)));
      }
    }
  }
}
