import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import type { Server } from "node:http";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import jsonwebtoken from "jsonwebtoken";
import {
  type BenchServer,
  EXPECTED_AUDIENCE,
  EXPECTED_ISSUER,
  RESOURCE_BODY,
  RESOURCE_PATH,
  requirePublicPem,
  requireSecret,
  type VariantSettings,
} from "./settings.js";

export async function listenExpress(app: Express): Promise<BenchServer> {
  app.get(RESOURCE_PATH, (_request, response) => {
    response.json(RESOURCE_BODY);
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(0, "127.0.0.1", (error?: Error) =>
      error === undefined ? resolve(listening) : reject(error),
    );
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function createExpress(): Express {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  return app;
}

/** Express with no authentication. */
export async function startBareExpress(): Promise<BenchServer> {
  return listenExpress(createExpress());
}

/** Express with a middleware that calls jsonwebtoken's synchronous verify on the bearer token. */
export async function startExpressJsonwebtoken(settings: VariantSettings): Promise<BenchServer> {
  const key: KeyObject =
    settings.alg === "HS256"
      ? createSecretKey(requireSecret(settings))
      : createPublicKey(requirePublicPem(settings));
  const options = {
    algorithms: [settings.alg],
    issuer: EXPECTED_ISSUER,
    audience: EXPECTED_AUDIENCE,
  };

  const app = createExpress();
  app.use((request: Request, response: Response, next: NextFunction) => {
    const header = request.headers.authorization;
    if (header === undefined || !header.startsWith("Bearer ")) {
      response.status(401).json({ error: "invalid_token" });
      return;
    }
    try {
      response.locals.claims = jsonwebtoken.verify(header.slice(7), key, options);
    } catch {
      response.status(401).json({ error: "invalid_token" });
      return;
    }
    next();
  });
  return listenExpress(app);
}
