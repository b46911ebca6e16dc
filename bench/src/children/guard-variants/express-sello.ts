import { createGuard } from "@sello/guard";
import { sello } from "@sello/guard/express";
import express from "express";
import { listenExpress } from "./express.js";
import {
  type BenchServer,
  EXPECTED_AUDIENCE,
  EXPECTED_ISSUER,
  selloKeySource,
  type VariantSettings,
} from "./settings.js";

/** Express with the Sello guard middleware and its default cache of 10,000 entries. */
export async function startExpressSello(settings: VariantSettings): Promise<BenchServer> {
  const guard = createGuard({
    issuer: EXPECTED_ISSUER,
    audience: EXPECTED_AUDIENCE,
    algorithms: [settings.alg],
    keys: selloKeySource(settings),
    revocation: false,
  });
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.use(sello(guard));
  return listenExpress(app);
}
