/** The credentials a route accepts, as listed in the OpenAPI document. */
type RouteAuth = "none" | "bearer" | "refresh" | "logout";

/** The OpenAPI security requirements of each kind. `{}` marks a request without credentials. */
const SECURITY: Record<Exclude<RouteAuth, "none">, Record<string, string[]>[]> = {
  bearer: [{ bearer: [] }],
  // A refresh presents the cookie, or the refresh token in the body without credentials.
  refresh: [{ refreshCookie: [] }, {}],
  logout: [{ refreshCookie: [] }, { bearer: [] }, {}],
};

/**
 * Returns the OpenAPI fields of a route (tag, summary, description and security) to spread into
 * its Fastify schema. Swagger reads them for `/openapi.json` and `/docs`, and validation ignores
 * them.
 */
export function routeDoc(
  tag: "auth" | "admin" | "discovery" | "health",
  summary: string,
  description: string,
  auth: RouteAuth = "none",
): { tags: string[]; summary: string; description: string; security?: Record<string, string[]>[] } {
  return {
    tags: [tag],
    summary,
    description,
    ...(auth === "none" ? {} : { security: SECURITY[auth] }),
  };
}
