import { type AccessTokenClaims, SelloError, type Store } from "@sello/core";
import type { Guard } from "@sello/guard";
import { getAuth, type SelloRouteConfig, sello } from "@sello/guard/fastify";
import type { FastifyInstance } from "fastify";
import { MAX_NOTE_LENGTH, type NotesStore } from "./notes-store.js";

export interface NotesRoutesOptions {
  /** The auth server's guard: same keys and revocation list as the server itself. */
  guard: Guard;
  notes: NotesStore;
  /** The auth server's store, used to look up the author's username. */
  users: Pick<Store, "findUserById">;
}

const noteIdParams = {
  type: "object",
  required: ["id"],
  properties: {
    id: {
      type: "string",
      pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    },
  },
} as const;

const createNoteBody = {
  type: "object",
  required: ["text"],
  additionalProperties: false,
  properties: {
    // At least one character that is not white space.
    text: { type: "string", minLength: 1, maxLength: MAX_NOTE_LENGTH, pattern: "\\S" },
  },
} as const;

const canRead: SelloRouteConfig = { sello: { permissions: ["notes:read"] } };
const canWrite: SelloRouteConfig = { sello: { permissions: ["notes:write"] } };
const canDelete: SelloRouteConfig = { sello: { permissions: ["notes:delete"] } };

/**
 * Registers the notes API: `GET /notes`, `POST /notes` and `DELETE /notes/:id` under the prefix
 * the caller gives (the demo uses `/api`). The guard's Fastify plugin authenticates every request
 * in this scope and checks each route's permission, so a request without the permission gets
 * 401 or 403 before the handler runs.
 */
export async function notesRoutes(app: FastifyInstance, options: NotesRoutesOptions) {
  const { notes, users } = options;
  await app.register(sello, { guard: options.guard });

  app.get("/notes", { config: canRead }, async () => ({ notes: await notes.list() }));

  app.post(
    "/notes",
    { config: canWrite, schema: { body: createNoteBody } },
    async (request, reply) => {
      const claims = requireClaims(getAuth(request));
      const user = await users.findUserById(claims.sub);
      if (user === undefined) {
        throw new SelloError("invalid_token", {
          message: "The user of this access token no longer exists.",
        });
      }

      const { text } = request.body as { text: string };
      const note = await notes.create({
        text: text.trim(),
        authorId: user.id,
        authorUsername: user.username,
      });
      return reply.code(201).send({ note });
    },
  );

  app.delete(
    "/notes/:id",
    { config: canDelete, schema: { params: noteIdParams } },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      if (!(await notes.delete(id))) {
        throw new SelloError("not_found", { message: "No note has this id." });
      }
      return reply.code(204).send();
    },
  );
}

/** The plugin has verified the token before any handler runs, so claims are always present. */
function requireClaims(claims: AccessTokenClaims | null): AccessTokenClaims {
  if (claims === null) {
    throw new SelloError("missing_token");
  }
  return claims;
}
