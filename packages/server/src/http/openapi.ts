import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { ERROR_CODES } from "@sello/core";
import type { FastifyInstance } from "fastify";

/**
 * Generates the OpenAPI 3.1 document from the route schemas. When `serveUi` is set, the document
 * is served at /openapi.json and Swagger UI at /docs. Must run before the routes are registered.
 */
export async function installApiDocs(
  app: FastifyInstance,
  options: { publicUrl: string; serveUi: boolean; cookieName: string },
): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Sello auth server",
        version: "1",
        description:
          "Login, refresh-token rotation, logout, revocation and administration. Every error body is " +
          `{"error": code, "message": text}; the codes are ${ERROR_CODES.join(", ")}.`,
      },
      servers: [{ url: options.publicUrl }],
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
          refreshCookie: { type: "apiKey", in: "cookie", name: options.cookieName },
        },
      },
    },
  });

  if (!options.serveUi) {
    return;
  }
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  await app.register(swaggerUi, { routePrefix: "/docs", staticCSP: true });
}
