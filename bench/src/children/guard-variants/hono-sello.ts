import { createGuard } from "@sello/guard";
import { sello } from "@sello/guard/hono";
import { Hono } from "hono";
import { listenHono } from "./hono.js";
import {
  type BenchServer,
  EXPECTED_AUDIENCE,
  EXPECTED_ISSUER,
  selloKeySource,
  type VariantSettings,
} from "./settings.js";

/** Hono on @hono/node-server with the Sello guard middleware and its default cache. */
export async function startHonoSello(settings: VariantSettings): Promise<BenchServer> {
  const guard = createGuard({
    issuer: EXPECTED_ISSUER,
    audience: EXPECTED_AUDIENCE,
    algorithms: [settings.alg],
    keys: selloKeySource(settings),
    revocation: false,
  });
  const app = new Hono();
  app.use("*", sello(guard));
  return listenHono(app);
}
