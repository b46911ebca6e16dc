import { createGuard } from "@sello/guard";
import { sello } from "@sello/guard/fastify";
import Fastify from "fastify";
import { listenFastify } from "./fastify.js";
import {
  type BenchServer,
  EXPECTED_AUDIENCE,
  EXPECTED_ISSUER,
  selloKeySource,
  type VariantSettings,
} from "./settings.js";

/** Fastify with the Sello guard plugin and its default cache of 10,000 entries. */
export async function startFastifySello(settings: VariantSettings): Promise<BenchServer> {
  const guard = createGuard({
    issuer: EXPECTED_ISSUER,
    audience: EXPECTED_AUDIENCE,
    algorithms: [settings.alg],
    keys: selloKeySource(settings),
    revocation: false,
  });
  const app = Fastify({ logger: false });
  await app.register(sello, { guard });
  return listenFastify(app);
}
