import { SelloError } from "@sello/core";
import type { KeyRingEntry } from "@sello/core/node";
import { formatDuration } from "../config/parsers.js";
import type { CommandSpec, Invocation } from "./args.js";
import { withContext } from "./context.js";
import { formatTable, formatTime } from "./output.js";

const KEY_OPENING_NOTE =
  "Like the server at start, this creates the key-encryption key file and a first signing key " +
  "when they are missing, and promotes a next key whose propagation delay has passed.";

/** The `sello keys …` commands. */
export const keyCommands: CommandSpec[] = [
  {
    name: ["keys", "list"],
    summary: "List the signing keys with their states and times.",
    arguments: [],
    options: {},
    notes: [
      "States: next (published, signs after the propagation delay), current (signs new tokens), " +
        "retired (verifies until its verify-until time, then is removed).",
      KEY_OPENING_NOTE,
    ],
    run: listKeys,
  },
  {
    name: ["keys", "rotate"],
    summary: "Schedule a new signing key and print when it starts signing.",
    arguments: [],
    options: {},
    notes: [
      "The new key is published in the JWKS at once and starts signing after " +
        "SELLO_KEY_PROPAGATION_DELAY, so resource servers that cache the JWKS know it first. " +
        "A rotation that is already scheduled is printed and left as it is.",
      KEY_OPENING_NOTE,
    ],
    run: rotateKeys,
  },
  {
    name: ["keys", "export-jwks"],
    summary: "Print the public JWKS (JSON), as /.well-known/jwks.json serves it.",
    arguments: [],
    options: {},
    notes: [
      "The output contains public keys only. In HS256 mode it is empty, because a shared secret " +
        "is never published.",
      KEY_OPENING_NOTE,
    ],
    run: exportJwks,
  },
];

/** A signing key as `keys list` reports it; times are ISO 8601 or null. */
interface KeyView {
  kid: string;
  alg: string;
  state: string;
  createdAt: string;
  activatedAt: string | null;
  /** For a next key: when it is due to start signing. Otherwise null. */
  activatesAt: string | null;
  retiredAt: string | null;
  verifyUntil: string | null;
}

const STATE_ORDER: Record<string, number> = { current: 0, next: 1, retired: 2 };

async function listKeys(invocation: Invocation): Promise<void> {
  await withContext(invocation.io, async (context) => {
    const keys = await context.keys();
    const delayMs = context.config.keyPropagationDelay * 1000;
    const views = [...keys.entries()]
      .sort((a, b) => (STATE_ORDER[a.state] ?? 3) - (STATE_ORDER[b.state] ?? 3))
      .map((entry) => toKeyView(entry, delayMs));

    const rows = views.map((view) => [
      view.kid,
      view.alg,
      view.state,
      view.createdAt,
      view.activatedAt ?? (view.activatesAt === null ? "-" : `${view.activatesAt} (due)`),
      view.retiredAt ?? "-",
      view.verifyUntil ?? "-",
    ]);
    invocation.output.result(
      { algorithm: context.config.algorithm, keys: views },
      formatTable(["KID", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED", "VERIFY UNTIL"], rows),
    );
    if (context.config.algorithm === "HS256") {
      invocation.output.note(
        "HS256 mode: the key is the shared secret from SELLO_HS256_SECRET; it is never stored or published.",
      );
    }
  });
}

async function rotateKeys(invocation: Invocation): Promise<void> {
  await withContext(invocation.io, async (context) => {
    const { config } = context;
    if (config.algorithm === "HS256") {
      throw new SelloError("invalid_request", {
        message:
          "HS256 keys are shared secrets from the configuration, so sello cannot rotate them. " +
          "Set a new SELLO_HS256_SECRET on every server; tokens signed with the old secret then " +
          "stop verifying at once.",
      });
    }

    const keys = await context.keys();
    const pending = keys.entries().find((entry) => entry.state === "next");
    const rotation = await keys.rotate();
    const alreadyScheduled = pending?.key.kid === rotation.kid;
    if (!alreadyScheduled) {
      const { audit, actor } = await context.services();
      await audit.record("admin.keys_rotated", {
        userAgent: actor.userAgent,
        detail: { kid: rotation.kid, activatesAt: rotation.activatesAt, actor: actor.userId },
      });
    }

    const activatesAt = formatTime(Date.parse(rotation.activatesAt));
    const text = alreadyScheduled
      ? [
          `A rotation is already scheduled: key ${rotation.kid} (${rotation.alg}) starts signing at ${activatesAt}.`,
          "Nothing was changed.",
        ]
      : [
          `Scheduled the new signing key ${rotation.kid} (${rotation.alg}).`,
          `It is in the JWKS now and starts signing at ${activatesAt}, after SELLO_KEY_PROPAGATION_DELAY (${formatDuration(config.keyPropagationDelay)}).`,
          "A running server promotes it at its first key check after that time (it checks every 30 seconds).",
        ];
    invocation.output.result({ ...rotation, alreadyScheduled }, text);
  });
}

async function exportJwks(invocation: Invocation): Promise<void> {
  await withContext(invocation.io, async (context) => {
    const jwks = (await context.keys()).publicJwks();
    // The JWKS is JSON for people and scripts alike, so both modes print the same document.
    invocation.output.raw(JSON.stringify(jwks, null, 2));
    if (context.config.algorithm === "HS256") {
      invocation.output.note(
        "HS256 mode publishes no keys: resource servers verify tokens with the shared secret.",
      );
    }
  });
}

function toKeyView(entry: KeyRingEntry, propagationDelayMs: number): KeyView {
  const optionalTime = (time: number | undefined) => (time === undefined ? null : formatTime(time));
  return {
    kid: entry.key.kid,
    alg: entry.key.alg,
    state: entry.state,
    createdAt: formatTime(entry.createdAt),
    activatedAt: optionalTime(entry.activatedAt),
    activatesAt: entry.state === "next" ? formatTime(entry.createdAt + propagationDelayMs) : null,
    retiredAt: optionalTime(entry.retiredAt),
    verifyUntil: optionalTime(entry.verifyUntil),
  };
}
