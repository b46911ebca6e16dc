import fastifyJwt from "@fastify/jwt";
import Fastify, { type FastifyInstance } from "fastify";
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

export async function listenFastify(app: FastifyInstance): Promise<BenchServer> {
  app.get(RESOURCE_PATH, async () => RESOURCE_BODY);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return { port, close: () => app.close() };
}

/** Fastify with no authentication. */
export async function startBareFastify(): Promise<BenchServer> {
  return listenFastify(Fastify({ logger: false }));
}

/** Fastify with @fastify/jwt verifying in an onRequest hook, with its cache off (the default). */
export async function startFastifyJwt(settings: VariantSettings): Promise<BenchServer> {
  return startFastifyJwtWith(settings, false);
}

/** Fastify with @fastify/jwt verifying in an onRequest hook, with `cache: true` (1,000 entries). */
export async function startFastifyJwtCached(settings: VariantSettings): Promise<BenchServer> {
  return startFastifyJwtWith(settings, true);
}

async function startFastifyJwtWith(
  settings: VariantSettings,
  cache: boolean,
): Promise<BenchServer> {
  const app = Fastify({ logger: false });
  await app.register(fastifyJwt, {
    secret:
      settings.alg === "HS256" ? requireSecret(settings) : { public: requirePublicPem(settings) },
    verify: {
      algorithms: [settings.alg],
      allowedIss: EXPECTED_ISSUER,
      allowedAud: EXPECTED_AUDIENCE,
      ...(cache ? { cache: true } : {}),
    },
  });
  app.addHook("onRequest", async (request) => {
    await request.jwtVerify();
  });
  return listenFastify(app);
}
