import {
  type AccessTokenClaims,
  isSelloError,
  parseDuration,
  RevocationList,
  SelloError,
} from "@sello/core";
import type { ServerConfig } from "../config/index.js";
import { formatDuration } from "../config/parsers.js";
import {
  type CommandSpec,
  flagOption,
  type Invocation,
  parseRoleList,
  stringOption,
  usageError,
} from "./args.js";
import { CLOCK_TOLERANCE_SECONDS, type CliContext, withContext } from "./context.js";
import { formatFields, formatTime } from "./output.js";
import { readStdin } from "./prompt.js";
import { checkRoles, findUser } from "./users.js";

const TOKEN_ARGUMENT = {
  name: "token",
  description: 'The access token, or "-" to read it from stdin (keeps it out of the process list).',
};

/** The `sello token …` commands. */
export const tokenCommands: CommandSpec[] = [
  {
    name: ["token", "decode"],
    summary: "Print a token's header and payload WITHOUT verifying it.",
    arguments: [TOKEN_ARGUMENT],
    options: {},
    notes: [
      "Nothing is checked: not the signature, the issuer, the audience, the expiry nor " +
        'revocation. Use "sello token verify" to check a token.',
    ],
    run: decodeToken,
  },
  {
    name: ["token", "verify"],
    summary:
      "Verify an access token as the server would, and print its claims or the reason it fails.",
    arguments: [TOKEN_ARGUMENT],
    options: {},
    notes: [
      "The token is checked with the stored signing keys, SELLO_ALGORITHM, SELLO_PUBLIC_URL as " +
        "the issuer, SELLO_AUDIENCE and the revocations in the database, with 5 seconds of clock " +
        "tolerance. A rejected token exits with 77.",
    ],
    run: verifyToken,
  },
  {
    name: ["token", "issue"],
    summary: "Sign an access token for a user without a login. For testing only.",
    arguments: [],
    options: {
      subject: {
        type: "string",
        placeholder: "<username>",
        description: "The user the token is for. Required.",
      },
      roles: {
        type: "string",
        placeholder: "<roles>",
        description: "Comma-separated roles for the token. Default: the user's roles.",
      },
      ttl: {
        type: "string",
        placeholder: "<duration>",
        description:
          "Lifetime, such as 90s or 5m, up to SELLO_ACCESS_TTL. Default: SELLO_ACCESS_TTL.",
      },
      "insecure-for-testing": {
        type: "boolean",
        description: "Confirm that the token is for a test. Required.",
      },
    },
    notes: [
      "The token skips the password check, belongs to no session and cannot be refreshed. Until " +
        "it expires, anyone who holds it acts as the user. It is recorded in the audit log as " +
        'admin.test_token_issued, and "sello revoke --user" revokes it.',
    ],
    run: issueToken,
  },
];

/** A token's header and payload, decoded without any check. */
interface DecodedToken {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

async function decodeToken(invocation: Invocation): Promise<void> {
  const token = await readTokenArgument(invocation);
  const decoded = decodeUnverified(token);
  const now = Date.now();

  invocation.output.result({ verified: false, ...decoded }, [
    "UNVERIFIED: decoded only. The signature, issuer, audience, expiry and revocation were NOT checked.",
    "",
    "Header (unverified):",
    JSON.stringify(decoded.header, null, 2),
    "",
    "Payload (unverified):",
    JSON.stringify(decoded.payload, null, 2),
    ...describeTimeClaims(decoded.payload, now),
  ]);
}

async function verifyToken(invocation: Invocation): Promise<void> {
  const token = await readTokenArgument(invocation);

  await withContext(invocation.io, async (context) => {
    const { config, store, clock } = context;
    const keys = await context.keys();
    const { createVerifier } = await import("@sello/core/node");
    const verify = createVerifier({
      issuer: config.publicUrl,
      audience: config.audience,
      algorithms: [config.algorithm],
      keys,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      clock,
    });

    let claims: AccessTokenClaims;
    try {
      claims = verify(token);
      await checkRevocation(context, claims);
    } catch (error) {
      if (isSelloError(error)) {
        throw explainRejection(error, token, config);
      }
      throw error;
    }

    const user = await store.findUserById(claims.sub);
    const kid = decodeUnverified(token).header.kid;
    invocation.output.result(
      {
        valid: true,
        kid: typeof kid === "string" ? kid : null,
        username: user?.username ?? null,
        claims,
      },
      [
        "Valid access token: the signature, issuer, audience, expiry and revocation were checked.",
        ...formatFields([
          [
            "subject",
            `${claims.sub}${user === undefined ? " (no such user)" : ` (${user.username})`}`,
          ],
          ["roles", claims.roles.join(", ") || "(none)"],
          ["permissions", claims.permissions.join(", ") || "(none)"],
          ["client_id", claims.client_id],
          ["session", claims.sid ?? "(none)"],
          ["jti", claims.jti],
          ["issued", formatTime(claims.iat * 1000)],
          [
            "expires",
            `${formatTime(claims.exp * 1000)} (${describeFromNow(claims.exp * 1000, clock())})`,
          ],
          ["key", typeof kid === "string" ? kid : "(no kid)"],
        ]),
      ],
    );
    if (user?.disabled === true) {
      invocation.output.note(
        `Note: ${user.username} is disabled, so the server rejects its refresh and /auth/me requests.`,
      );
    }
  });
}

async function issueToken(invocation: Invocation): Promise<void> {
  const { name } = invocation.command;
  if (!flagOption(invocation, "insecure-for-testing")) {
    throw usageError(
      "sello token issue signs a real access token with the server's signing key without any " +
        "login, so whoever holds the token acts as the user until it expires. It is meant for " +
        "tests. Add --insecure-for-testing to confirm that this token is for a test.",
      name,
    );
  }
  const subject = stringOption(invocation, "subject");
  if (subject === undefined) {
    throw usageError("Missing the option --subject <username>.", name);
  }
  const rolesText = stringOption(invocation, "roles");
  const ttlText = stringOption(invocation, "ttl");

  await withContext(invocation.io, async (context) => {
    const { config, clock } = context;
    const ttl = ttlText === undefined ? config.accessTtl : parseTtl(ttlText, config);
    const services = await context.services();
    const user = await findUser(context, subject);
    if (user.disabled) {
      throw new SelloError("validation_failed", {
        message: `${user.username} is disabled. Run "sello user enable ${user.username}" first.`,
      });
    }
    const roles =
      rolesText === undefined
        ? user.roles.filter((role) => services.roles.has(role))
        : parseRoleList(rolesText);
    checkRoles(services, roles);

    const { createAccessTokenIssuer } = await import("@sello/core/node");
    const issue = createAccessTokenIssuer({
      issuer: config.publicUrl,
      audience: config.audience.length === 1 ? (config.audience[0] as string) : config.audience,
      keys: await context.keys(),
      accessTokenTtl: ttl,
      clientId: config.clientId,
      clock,
    });
    const issued = issue({
      subject: user.id,
      roles,
      permissions: services.roles.permissionsFor(roles),
    });
    const expiresAt = formatTime(issued.claims.exp * 1000);
    await services.audit.record("admin.test_token_issued", {
      userId: user.id,
      userAgent: services.actor.userAgent,
      detail: { jti: issued.claims.jti, roles, expiresAt, actor: services.actor.userId },
    });

    // The operator asked for this token, so it is printed; it goes to stdout alone so that
    // `$(sello token issue …)` captures exactly the token.
    if (invocation.output.json) {
      invocation.output.result(
        {
          accessToken: issued.token,
          tokenType: "Bearer",
          expiresIn: issued.expiresIn,
          expiresAt,
          claims: issued.claims,
        },
        [],
      );
    } else {
      invocation.output.raw(issued.token);
    }
    invocation.output.note(
      `Issued a test access token for ${user.username} (roles: ${roles.join(", ") || "none"}), ` +
        `valid until ${expiresAt}. Whoever holds it acts as ${user.username} until then; ` +
        `"sello revoke --user ${user.username}" revokes it.`,
    );
  });
}

/** Reads the token argument, or stdin when the argument is "-". */
async function readTokenArgument(invocation: Invocation): Promise<string> {
  const [argument] = invocation.args as [string];
  const token = argument === "-" ? await readStdin(invocation.io, "token") : argument;
  const trimmed = token.trim();
  if (trimmed === "") {
    throw new SelloError("validation_failed", {
      message:
        argument === "-" ? "stdin was empty, so there is no token to read." : "The token is empty.",
    });
  }
  return trimmed;
}

/**
 * Splits a compact JWS and parses its header and payload as JSON objects, checking nothing
 * else. Throws `validation_failed` describing what is not a JWT.
 */
function decodeUnverified(token: string): DecodedToken {
  const parts = token.split(".");
  if (parts.length === 5) {
    throw notAJwt(
      "The token has 5 parts, so it is an encrypted JWT (JWE); sello decodes signed JWTs only.",
    );
  }
  if (parts.length !== 3) {
    throw notAJwt(`A JWT has 3 base64url parts separated by dots; this token has ${parts.length}.`);
  }
  return {
    header: decodePart(parts[0] as string, "header"),
    payload: decodePart(parts[1] as string, "payload"),
  };
}

function decodePart(part: string, name: string): Record<string, unknown> {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) {
    throw notAJwt(`The ${name} is not base64url text.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    throw notAJwt(`The ${name} is not JSON once decoded from base64url.`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw notAJwt(`The ${name} is JSON but not a JSON object.`);
  }
  return value as Record<string, unknown>;
}

function notAJwt(message: string): SelloError {
  return new SelloError("validation_failed", { message, reason: "malformed" });
}

/** Applies the revocations stored in the database, as a server loads them at start. */
async function checkRevocation(context: CliContext, claims: AccessTokenClaims): Promise<void> {
  const retentionSeconds = context.config.accessTtl + CLOCK_TOLERANCE_SECONDS;
  const revocations = new RevocationList({ retentionSeconds, clock: context.clock });
  revocations.apply(await context.store.loadRevocations(context.clock() - retentionSeconds * 1000));
  if (revocations.isRevoked(claims)) {
    throw new SelloError("token_revoked", { reason: "revoked" });
  }
}

/**
 * Rewrites a verification error with a message that names the check that failed and the setting
 * it was checked against. An operator runs this command, so unlike an HTTP response it may give the reason.
 */
function explainRejection(error: SelloError, token: string, config: ServerConfig): SelloError {
  let decoded: DecodedToken | undefined;
  try {
    decoded = decodeUnverified(token);
  } catch {
    decoded = undefined;
  }
  const header = decoded?.header ?? {};
  const payload = decoded?.payload ?? {};
  const reason = error.reason ?? "unknown";

  const explanations: Record<string, string> = {
    malformed: "it is not a JWT of 3 base64url parts separated by dots.",
    token_too_long: "it is longer than the 8192 characters a verifier accepts.",
    alg_none: 'its alg is "none", which means unsigned.',
    alg_not_allowed: `its alg is ${JSON.stringify(header.alg)}, but the server accepts only ${config.algorithm} (SELLO_ALGORITHM).`,
    unknown_kid: `no stored key has its kid ${JSON.stringify(header.kid)}: another server signed it, or its key was retired and removed. "sello keys list" shows the keys.`,
    kid_required: "it has no kid header, and the server has more than one key.",
    kid_invalid: "its kid header is not a valid key id.",
    signature_invalid:
      "the signature does not match: the token was altered, or another key with the same kid signed it.",
    signature_malformed: "the signature has the wrong length or form for the algorithm.",
    typ_invalid: `its typ header is ${JSON.stringify(header.typ)}, not "at+jwt", so it is not a Sello access token.`,
    iss_mismatch: `its iss is ${JSON.stringify(payload.iss)}, but this configuration expects ${JSON.stringify(config.publicUrl)} (SELLO_PUBLIC_URL).`,
    aud_mismatch: `its aud is ${JSON.stringify(payload.aud)}, but this configuration accepts ${JSON.stringify(config.audience)} (SELLO_AUDIENCE).`,
    expired: `it expired at ${typeof payload.exp === "number" ? formatTime(payload.exp * 1000) : "an unreadable time"}.`,
    not_yet_valid: "its nbf is in the future; check the clocks of the issuer and of this machine.",
    iat_in_future: "its iat is in the future; check the clocks of the issuer and of this machine.",
    claim_invalid:
      "a claim is missing or has the wrong type (exp, iat, sub, jti, client_id, sid, roles or permissions).",
    revoked:
      "it was revoked: its session was logged out or revoked, or its user was disabled, reset or revoked everywhere.",
  };
  const explanation = explanations[reason] ?? error.message;
  return new SelloError(error.code, {
    message: `Token rejected (${error.code}, reason ${reason}): ${explanation}`,
    reason,
    cause: error,
  });
}

/** Parses `--ttl`: whole seconds from 1 to SELLO_ACCESS_TTL. */
function parseTtl(text: string, config: ServerConfig): number {
  let seconds: number;
  try {
    seconds = parseDuration(text, "--ttl");
  } catch (error) {
    throw new SelloError("validation_failed", { message: (error as Error).message });
  }
  // Servers keep a revocation only as long as SELLO_ACCESS_TTL, so a longer-lived token could
  // outlive its own revocation.
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > config.accessTtl) {
    throw new SelloError("validation_failed", {
      message: `--ttl must be whole seconds from 1s to SELLO_ACCESS_TTL (${formatDuration(config.accessTtl)}), because servers keep revocations only that long; got ${JSON.stringify(text)}.`,
    });
  }
  return seconds;
}

function describeTimeClaims(payload: Record<string, unknown>, now: number): string[] {
  const fields: [string, string][] = [];
  for (const claim of ["iat", "nbf", "exp"]) {
    const value = payload[claim];
    if (typeof value === "number" && Number.isFinite(value)) {
      fields.push([claim, `${formatTime(value * 1000)} (${describeFromNow(value * 1000, now)})`]);
    }
  }
  return fields.length === 0 ? [] : ["", "Times (unverified):", ...formatFields(fields)];
}

/** Describes a time relative to `now`, such as `in 9 minutes` or `3 hours ago`. */
function describeFromNow(time: number, now: number): string {
  const seconds = Math.round(Math.abs(time - now) / 1000);
  const units: [number, string][] = [
    [86_400 * 2, "day"],
    [3600 * 2, "hour"],
    [60 * 2, "minute"],
  ];
  let amount = `${seconds} second${seconds === 1 ? "" : "s"}`;
  for (const [threshold, unit] of units) {
    if (seconds >= threshold) {
      const size = threshold / 2;
      amount = `${Math.floor(seconds / size)} ${unit}s`;
      break;
    }
  }
  return time >= now ? `in ${amount}` : `${amount} ago`;
}
