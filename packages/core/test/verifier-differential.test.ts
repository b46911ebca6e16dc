import type { KeyObject } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { calculateJwkThumbprint, type JWSHeaderParameters, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import type { Algorithm } from "../src/algorithms.js";
import { SelloError } from "../src/errors.js";
import { createKeySet } from "../src/node/key-set.js";
import type { SelloKey } from "../src/node/types.js";
import { createVerifier } from "../src/node/verifier.js";
import {
  buildAttackCorpus,
  type CorpusEntry,
  type KeysByAlgorithm,
} from "./helpers/attack-corpus.js";
import {
  AUDIENCE,
  accessClaims,
  accessHeader,
  encodeSegment,
  forgeToken,
  frozenClock,
  ISSUER,
  makeKey,
  NOW,
  segmentsOf,
  signBytes,
  signedToken,
} from "./helpers/token-forge.js";

/**
 * Differential test: Sello's verifier and jose's jwtVerify get the same tokens. Sello must never
 * accept a token that jose rejects, and may reject a token that jose accepts only under one of
 * its deliberate strict rules below.
 */

const ALGORITHMS: Algorithm[] = ["ES256", "EdDSA", "RS256", "PS256", "HS256"];
const SECOND_AUDIENCE = "https://admin.example.test";
const AUDIENCES = [AUDIENCE, SECOND_AUDIENCE];
const TOLERANCE = 5;
const SEED = 20_250_615;
const MUTATIONS = 10_500;

const keys: KeysByAlgorithm = {
  ES256: makeKey("ES256"),
  EdDSA: makeKey("EdDSA"),
  RS256: makeKey("RS256"),
  PS256: makeKey("PS256"),
  HS256: makeKey("HS256"),
};
const attacker = makeKey("ES256");
const keySet = createKeySet(Object.values(keys));

const verifyWithSello = createVerifier({
  algorithms: ALGORITHMS,
  keys: keySet,
  issuer: ISSUER,
  audience: AUDIENCES,
  clockTolerance: TOLERANCE,
  clock: frozenClock,
});

const joseOptions = {
  issuer: ISSUER,
  audience: AUDIENCES,
  algorithms: ALGORITHMS,
  typ: "at+jwt",
  clockTolerance: TOLERANCE,
  currentDate: new Date(NOW * 1000),
  requiredClaims: ["exp", "iat", "sub", "jti", "client_id"],
};

/** Resolves the key for jose exactly as Sello's key source does. */
function joseKey(header: JWSHeaderParameters): KeyObject {
  const kid: unknown = header.kid;
  const key =
    kid === undefined
      ? keySet.getOnlyKey()
      : typeof kid === "string"
        ? keySet.getKey(kid)
        : undefined;
  if (key === undefined) {
    throw new Error("No key matches the token's kid.");
  }
  return key.verifyKey;
}

interface StrictRule {
  /** The Sello rejection reason the rule produces. */
  reason: string;
  /** The rule, in words. */
  rule: string;
  /** Limits the rule to tokens it explains; absent means every token with this reason. */
  applies?: (token: string) => boolean;
}

/** Where Sello deliberately rejects tokens that jose accepts. */
const STRICT_RULES: StrictRule[] = [
  {
    reason: "non_canonical_base64url",
    rule: "segments are canonical base64url: no padding, whitespace or non-zero unused bits",
  },
  { reason: "duplicate_member", rule: "JSON member names are unique in every object" },
  { reason: "kid_invalid", rule: "kid is a string of 1 to 256 characters" },
  { reason: "kid_required", rule: "a token without kid needs a key source with exactly one key" },
  { reason: "crit_unsupported", rule: "no crit header, because Sello supports no extension" },
  { reason: "b64_unsupported", rule: "no b64 header, even outside crit" },
  { reason: "zip_unsupported", rule: "no zip header" },
  { reason: "alg_key_mismatch", rule: "a key verifies only its own algorithm" },
  { reason: "signature_malformed", rule: "a signature has exactly the length its key produces" },
  { reason: "token_too_long", rule: "a token has at most 8192 characters" },
  { reason: "iat_in_future", rule: "iat is not ahead of the clock by more than the tolerance" },
  {
    reason: "claim_invalid",
    rule: "time claims are finite numbers; sub, jti and client_id are non-empty strings; aud, roles and permissions hold only strings; sid is a string",
  },
  {
    reason: "malformed",
    rule: "JSON text has no byte order mark",
    applies: (token) => segmentsStartWithByteOrderMark(token),
  },
];

function segmentsStartWithByteOrderMark(token: string): boolean {
  return token
    .split(".")
    .slice(0, 2)
    .some((segment) =>
      Buffer.from(segment, "base64url")
        .subarray(0, 3)
        .equals(Buffer.from([0xef, 0xbb, 0xbf])),
    );
}

interface Tally {
  cases: number;
  bothAccept: number;
  bothReject: number;
  strict: Map<string, number>;
  violations: string[];
}

function newTally(): Tally {
  return { cases: 0, bothAccept: 0, bothReject: 0, strict: new Map(), violations: [] };
}

function summarize(tally: Tally): string {
  const strict = JSON.stringify(Object.fromEntries([...tally.strict].sort()));
  return `${tally.cases} cases, ${tally.bothAccept} accepted by both, ${tally.bothReject} rejected by both, Sello-only rejections by rule ${strict}`;
}

/** Runs one token through both verifiers and records how their verdicts relate. */
async function compare(entry: CorpusEntry, tally: Tally): Promise<void> {
  tally.cases++;

  let selloClaims: unknown;
  let selloError: unknown;
  try {
    selloClaims = verifyWithSello(entry.token);
  } catch (error) {
    selloError = error;
  }

  let josePayload: Record<string, unknown> | undefined;
  let joseError: unknown;
  try {
    josePayload = (await jwtVerify(entry.token, joseKey, joseOptions)).payload as Record<
      string,
      unknown
    >;
  } catch (error) {
    joseError = error;
  }

  const describeToken = `${entry.description}\n    token: ${JSON.stringify(entry.token.slice(0, 400))}`;
  if (selloError !== undefined && !(selloError instanceof SelloError)) {
    tally.violations.push(`Sello threw ${String(selloError)}: ${describeToken}`);
    return;
  }

  if (selloError === undefined) {
    if (joseError !== undefined) {
      const code = (joseError as { code?: string }).code ?? String(joseError);
      tally.violations.push(`Sello accepted a token that jose rejects (${code}): ${describeToken}`);
      return;
    }
    const expected = { roles: [], permissions: [], ...josePayload };
    if (!isDeepStrictEqual({ ...(selloClaims as object) }, expected)) {
      tally.violations.push(`Sello and jose returned different claims: ${describeToken}`);
      return;
    }
    tally.bothAccept++;
    return;
  }

  if (joseError !== undefined) {
    tally.bothReject++;
    return;
  }

  const reason = (selloError as SelloError).reason ?? "";
  const rule = STRICT_RULES.find(
    (candidate) => candidate.reason === reason && (candidate.applies?.(entry.token) ?? true),
  );
  if (rule === undefined) {
    tally.violations.push(`Sello rejected (${reason}) a token that jose accepts: ${describeToken}`);
    return;
  }
  tally.strict.set(rule.reason, (tally.strict.get(rule.reason) ?? 0) + 1);
}

describe("differential against jose", () => {
  it("computes each kid as jose's RFC 7638 thumbprint", async () => {
    for (const key of [keys.ES256, keys.EdDSA, keys.RS256, keys.PS256]) {
      expect(key.kid).toBe(
        await calculateJwkThumbprint(key.verifyKey.export({ format: "jwk" }) as never),
      );
    }
  });

  it("agrees on valid tokens for every algorithm", async () => {
    const tally = newTally();
    for (const key of Object.values(keys)) {
      await compare({ description: `valid ${key.alg}`, token: signedToken(key) }, tally);
    }
    expect(tally.violations).toEqual([]);
    expect(tally.bothAccept).toBe(ALGORITHMS.length);
  });

  it("never accepts an attack token that jose rejects", async () => {
    const corpus = buildAttackCorpus(keys, attacker);
    const tally = newTally();
    for (const entry of corpus) {
      await compare(entry, tally);
    }

    console.info(`differential: ${summarize(tally)} from the attack corpus`);
    expect(tally.violations).toEqual([]);
    expect(tally.cases).toBe(corpus.length);
    expect(tally.bothAccept).toBeGreaterThan(0);
    expect(tally.bothReject).toBeGreaterThan(0);
  }, 120_000);

  it(`never accepts one of ${MUTATIONS} mutated tokens that jose rejects`, async () => {
    const plans = fc.sample(mutationPlan(), { seed: SEED, numRuns: MUTATIONS });
    const tally = newTally();
    for (const plan of plans) {
      await compare(buildMutation(plan), tally);
    }

    console.info(`differential: ${summarize(tally)} from ${MUTATIONS} mutations`);
    expect(tally.violations.slice(0, 20)).toEqual([]);
    expect(tally.violations).toHaveLength(0);
    expect(tally.cases).toBe(MUTATIONS);
    expect(tally.cases).toBeGreaterThanOrEqual(10_000);
    expect(tally.bothAccept).toBeGreaterThan(500);
    expect(tally.bothReject).toBeGreaterThan(500);
  }, 180_000);
});

// Mutation plans: plain data that fast-check generates from a fixed seed, turned into tokens
// by buildMutation. Keeping signing out of the arbitraries keeps sampling fast and repeatable.

const KEEP = "(keep)";
const REMOVE = "(remove)";

/** A JSON number literal that JSON.stringify cannot produce, such as 1e400. */
const literal = (text: string) => `@@literal:${text}@@`;

type Change = unknown;

interface SegmentEditPlan {
  kind: "segment-edit";
  alg: Algorithm;
  segment: number;
  position: number;
  operation: "replace" | "insert" | "delete";
  character: string;
}

interface ByteFlipPlan {
  kind: "byte-flip";
  alg: Algorithm;
  part: "header" | "payload";
  position: number;
  mask: number;
}

interface HeaderPlan {
  kind: "header";
  alg: Algorithm;
  changes: Record<string, Change>;
}

interface ClaimsPlan {
  kind: "claims";
  alg: Algorithm;
  changes: Record<string, Change>;
}

interface TextPlan {
  kind: "text";
  alg: Algorithm;
  part: "header" | "payload";
  operation: string;
  name: string;
}

interface EncodingPlan {
  kind: "encoding";
  alg: Algorithm;
  segment: number;
  operation: string;
}

interface StructurePlan {
  kind: "structure";
  alg: Algorithm;
  operation: string;
}

type MutationPlan =
  | SegmentEditPlan
  | ByteFlipPlan
  | HeaderPlan
  | ClaimsPlan
  | TextPlan
  | EncodingPlan
  | StructurePlan;

const algorithm = fc.constantFrom<Algorithm>(
  "ES256",
  "ES256",
  "EdDSA",
  "EdDSA",
  "HS256",
  "HS256",
  "RS256",
  "PS256",
);

/** Usually keeps a member, sometimes replaces it with one of `values`. */
function change(values: unknown[]): fc.Arbitrary<Change> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(KEEP) },
    { weight: 1, arbitrary: fc.constantFrom(...values) },
  );
}

/** Picks a time claim near the tolerance edges, or an odd value such as a string or 1e400. */
function timeChange(required: boolean): fc.Arbitrary<Change> {
  const offsets = fc.oneof(
    fc.integer({ min: -12, max: 12 }).map((offset) => NOW + offset),
    fc.constantFrom(-5.5, -4.5, 4.5, 5.5, 0.25).map((offset) => NOW + offset),
  );
  const odd = fc.constantFrom(
    String(NOW),
    null,
    true,
    [NOW],
    literal("1e400"),
    literal("-1e400"),
    0,
    9e15,
    ...(required ? [REMOVE] : []),
  );
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(KEEP) },
    { weight: 3, arbitrary: offsets },
    { weight: 1, arbitrary: odd },
  );
}

const EDIT_CHARACTERS = [
  "A",
  "Q",
  "g",
  "w",
  "0",
  "9",
  "-",
  "_",
  "+",
  "/",
  "=",
  " ",
  "\n",
  ".",
  "!",
  "é",
  "\u0141",
  "\u0000",
];

function mutationPlan(): fc.Arbitrary<MutationPlan> {
  const segmentEdit = fc.record({
    kind: fc.constant("segment-edit" as const),
    alg: algorithm,
    segment: fc.integer({ min: 0, max: 2 }),
    position: fc.nat({ max: 10_000 }),
    operation: fc.constantFrom("replace" as const, "insert" as const, "delete" as const),
    character: fc.constantFrom(...EDIT_CHARACTERS),
  });

  const byteFlip = fc.record({
    kind: fc.constant("byte-flip" as const),
    alg: algorithm,
    part: fc.constantFrom("header" as const, "payload" as const),
    position: fc.nat({ max: 10_000 }),
    mask: fc.integer({ min: 1, max: 255 }),
  });

  const header = fc.record({
    kind: fc.constant("header" as const),
    alg: algorithm,
    changes: fc.record({
      alg: change([...ALGORITHMS, "none", "NONE", "ES384", "HS512", "", 5, null, REMOVE]),
      typ: change([
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+Jwt",
        "JWT",
        "jwt",
        "",
        "at+jwt ",
        "dpop+jwt",
        "application/jwt",
        1,
        null,
        ["at+jwt"],
        REMOVE,
      ]),
      kid: change([
        "(other key)",
        REMOVE,
        "",
        5,
        null,
        "k".repeat(257),
        "(kid with a space)",
        "(upper-case kid)",
      ]),
      crit: change([[], ["exp"], ["b64"], "b64", [""], REMOVE]),
      b64: change([true, false]),
      zip: change(["DEF", "", null]),
      extra: change(["jku", "jwk", "x5u", "x5c", "cty"]),
    }),
  });

  const claims = fc.record({
    kind: fc.constant("claims" as const),
    alg: algorithm,
    changes: fc.record({
      exp: timeChange(true),
      nbf: fc.oneof(
        { weight: 3, arbitrary: fc.constant(KEEP) },
        { weight: 2, arbitrary: fc.integer({ min: -10, max: 10 }).map((offset) => NOW + offset) },
        {
          weight: 1,
          arbitrary: fc.constantFrom(NOW + 5.5, NOW + 4.5, String(NOW), null, literal("-1e400")),
        },
      ),
      iat: timeChange(true),
      iss: change([
        "https://other.example.test",
        ISSUER.toUpperCase(),
        `${ISSUER}/`,
        [ISSUER],
        5,
        null,
        REMOVE,
      ]),
      aud: change([
        "https://other.example.test",
        SECOND_AUDIENCE,
        [AUDIENCE],
        ["https://x.test", SECOND_AUDIENCE],
        [],
        [AUDIENCE, 5],
        [[AUDIENCE]],
        5,
        null,
        REMOVE,
      ]),
      sub: change([REMOVE, "", 5, null, "admin"]),
      jti: change([REMOVE, "", 5, null]),
      client_id: change([REMOVE, "", 5, null]),
      sid: change([REMOVE, 5, null, ""]),
      roles: change([REMOVE, "admin", ["a", 1], [], null]),
      permissions: change([REMOVE, "read", [1], [], null]),
    }),
  });

  const text = fc.record({
    kind: fc.constant("text" as const),
    alg: algorithm,
    part: fc.constantFrom("header" as const, "payload" as const),
    operation: fc.constantFrom(
      "duplicate",
      "escaped-duplicate",
      "nested-duplicate",
      "pretty",
      "byte-order-mark",
      "trailing-text",
      "escaped-name",
      "invalid-utf8",
      "proto",
    ),
    name: fc.constantFrom("alg", "kid", "typ", "sub", "exp", "aud", "iss", "roles", "other"),
  });

  const encoding = fc.record({
    kind: fc.constant("encoding" as const),
    alg: algorithm,
    segment: fc.integer({ min: 0, max: 2 }),
    operation: fc.constantFrom(
      "pad",
      "double-pad",
      "unused-bits",
      "plus",
      "slash",
      "space",
      "newline",
      "tab",
    ),
  });

  const structure = fc.record({
    kind: fc.constant("structure" as const),
    alg: algorithm,
    operation: fc.constantFrom(
      "drop-signature",
      "drop-payload",
      "extra-segment",
      "empty-header",
      "empty-signature",
      "double-dot",
      "too-long",
      "no-kid",
    ),
  });

  return fc.oneof(
    { weight: 3, arbitrary: segmentEdit },
    { weight: 2, arbitrary: byteFlip },
    { weight: 3, arbitrary: header },
    { weight: 4, arbitrary: claims },
    { weight: 2, arbitrary: text },
    { weight: 2, arbitrary: encoding },
    { weight: 1, arbitrary: structure },
  );
}

const baseTokens = new Map(Object.values(keys).map((key) => [key.alg, signedToken(key)]));

function buildMutation(plan: MutationPlan): CorpusEntry {
  const description = `mutation ${JSON.stringify(plan)}`;
  const key = keys[plan.alg];
  switch (plan.kind) {
    case "segment-edit":
      return { description, token: editSegment(baseTokens.get(plan.alg) as string, plan) };
    case "byte-flip":
      return { description, token: flipByte(key, plan) };
    case "header":
      return { description, token: changeHeader(key, plan.changes) };
    case "claims":
      return { description, token: changeClaims(key, plan.changes) };
    case "text":
      return { description, token: editText(key, plan) };
    case "encoding":
      return { description, token: editEncoding(key, plan) };
    case "structure":
      return { description, token: editStructure(key, plan) };
  }
}

function signKeyOf(key: SelloKey): KeyObject {
  return key.signKey as KeyObject;
}

/** Signs exact segment texts; RSA keys sign with the header's RSA algorithm when it names one. */
function signSegments(
  key: SelloKey,
  header: string,
  payload: string,
  headerAlg: unknown = key.alg,
): string {
  const rsaAlgorithm =
    key.verifyKey.asymmetricKeyType === "rsa" && (headerAlg === "RS256" || headerAlg === "PS256");
  const alg = rsaAlgorithm ? (headerAlg as string) : key.alg;
  const signature = signBytes(alg, signKeyOf(key), Buffer.from(`${header}.${payload}`, "latin1"));
  return `${header}.${payload}.${signature.toString("base64url")}`;
}

function editSegment(token: string, plan: SegmentEditPlan): string {
  const segments = segmentsOf(token);
  const segment = segments[plan.segment] as string;
  const position = plan.position % (segment.length + 1);
  const edited =
    plan.operation === "insert"
      ? segment.slice(0, position) + plan.character + segment.slice(position)
      : plan.operation === "delete"
        ? segment.slice(0, position) + segment.slice(position + 1)
        : segment.slice(0, position) + plan.character + segment.slice(position + 1);
  segments[plan.segment] = edited;
  return segments.join(".");
}

function flipByte(key: SelloKey, plan: ByteFlipPlan): string {
  const header = Buffer.from(JSON.stringify(accessHeader(key)));
  const payload = Buffer.from(JSON.stringify(accessClaims()));
  const target = plan.part === "header" ? header : payload;
  const position = plan.position % target.length;
  target[position] = (target[position] as number) ^ plan.mask;
  return signSegments(key, header.toString("base64url"), payload.toString("base64url"));
}

function applyChanges(
  base: Record<string, unknown>,
  changes: Record<string, Change>,
  resolve: (name: string, value: Change) => [string, unknown],
): Record<string, unknown> {
  const result = { ...base };
  for (const [name, value] of Object.entries(changes)) {
    if (value === KEEP) {
      continue;
    }
    if (value === REMOVE) {
      delete result[name];
      continue;
    }
    const [member, resolved] = resolve(name, value);
    result[member] = resolved;
  }
  return result;
}

/** Serializes with literal placeholders replaced by the numbers they stand for. */
function toJsonText(value: Record<string, unknown>): string {
  return JSON.stringify(value).replace(/"@@literal:([^@]+)@@"/g, "$1");
}

function changeHeader(key: SelloKey, changes: Record<string, Change>): string {
  const other = key.alg === "ES256" ? keys.EdDSA : keys.ES256;
  const header = applyChanges(accessHeader(key), changes, (name, value) => {
    if (name === "kid") {
      const kids: Record<string, string> = {
        "(other key)": other.kid,
        "(kid with a space)": `${key.kid} `,
        "(upper-case kid)": key.kid.toUpperCase(),
      };
      return ["kid", typeof value === "string" && value in kids ? kids[value] : value];
    }
    if (name === "extra") {
      const extras: Record<string, unknown> = {
        jku: "http://127.0.0.1:9/jwks.json",
        jwk: attacker.verifyKey.export({ format: "jwk" }),
        x5u: "http://127.0.0.1:9/cert.pem",
        x5c: ["AAAA"],
        cty: "JWT",
      };
      return [value as string, extras[value as string]];
    }
    return [name, value];
  });
  return signSegments(
    key,
    encodeSegment(toJsonText(header)),
    encodeSegment(accessClaims()),
    header.alg,
  );
}

function changeClaims(key: SelloKey, changes: Record<string, Change>): string {
  const claims = applyChanges(accessClaims(), changes, (name, value) => [name, value]);
  return signSegments(key, encodeSegment(accessHeader(key)), encodeSegment(toJsonText(claims)));
}

function editText(key: SelloKey, plan: TextPlan): string {
  const base = plan.part === "header" ? accessHeader(key) : accessClaims();
  const json = JSON.stringify(base);
  const body = json.slice(0, -1);
  const value = JSON.stringify(base[plan.name] ?? "x");
  const escapedName = `\\u00${plan.name.charCodeAt(0).toString(16)}${plan.name.slice(1)}`;

  let bytes: Buffer;
  switch (plan.operation) {
    case "duplicate":
      bytes = Buffer.from(`${body},"${plan.name}":${value}}`);
      break;
    case "escaped-duplicate":
      bytes = Buffer.from(`${body},"${escapedName}":${value}}`);
      break;
    case "nested-duplicate":
      bytes = Buffer.from(`${body},"ext":{"${plan.name}":1,"${escapedName}":2}}`);
      break;
    case "pretty":
      bytes = Buffer.from(JSON.stringify(base, null, 2));
      break;
    case "byte-order-mark":
      bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json)]);
      break;
    case "trailing-text":
      bytes = Buffer.from(`${json} ${plan.name}`);
      break;
    case "escaped-name":
      bytes = Buffer.from(json.replace(`"${plan.name}":`, `"${escapedName}":`));
      break;
    case "invalid-utf8":
      bytes = Buffer.concat([
        Buffer.from(`${body},"x":"`),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('"}'),
      ]);
      break;
    default:
      bytes = Buffer.from(`${body},"__proto__":{"${plan.name}":${value}}}`);
      break;
  }

  const header =
    plan.part === "header" ? bytes.toString("base64url") : encodeSegment(accessHeader(key));
  const payload =
    plan.part === "payload" ? bytes.toString("base64url") : encodeSegment(accessClaims());
  return signSegments(key, header, payload);
}

function editEncoding(key: SelloKey, plan: EncodingPlan): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const edit = (segment: string): string => {
    switch (plan.operation) {
      case "pad":
        return `${segment}=`;
      case "double-pad":
        return `${segment}==`;
      case "unused-bits": {
        if (segment.length % 4 === 0) {
          return `${segment}A`;
        }
        const last = alphabet.indexOf(segment.at(-1) as string);
        return segment.slice(0, -1) + alphabet[last | 1];
      }
      case "plus":
        return segment.replace(/[-_]/, "+");
      case "slash":
        return segment.replace(/[-_]/, "/");
      case "space":
        return `${segment.slice(0, 6)} ${segment.slice(6)}`;
      case "newline":
        return `${segment.slice(0, 6)}\n${segment.slice(6)}`;
      default:
        return `${segment.slice(0, 6)}\t${segment.slice(6)}`;
    }
  };

  const header = encodeSegment(accessHeader(key, { pad: "x".repeat(plan.alg.length % 3) }));
  const payload = encodeSegment(accessClaims());
  if (plan.segment === 2) {
    const [signedHeader, signedPayload, signature] = segmentsOf(signSegments(key, header, payload));
    return `${signedHeader}.${signedPayload}.${edit(signature)}`;
  }
  return plan.segment === 0
    ? signSegments(key, edit(header), payload)
    : signSegments(key, header, edit(payload));
}

function editStructure(key: SelloKey, plan: StructurePlan): string {
  const token = baseTokens.get(plan.alg) as string;
  const [header, payload, signature] = segmentsOf(token);
  switch (plan.operation) {
    case "drop-signature":
      return `${header}.${payload}`;
    case "drop-payload":
      return `${header}.${signature}`;
    case "extra-segment":
      return `${token}.${signature}`;
    case "empty-header":
      return `.${payload}.${signature}`;
    case "empty-signature":
      return `${header}.${payload}.`;
    case "double-dot":
      return `${header}..${payload}.${signature}`;
    case "too-long":
      return signedToken(key, { payload: accessClaims({ pad: "x".repeat(6200) }) });
    default:
      return forgeToken(
        { header: { alg: key.alg, typ: "at+jwt" }, payload: accessClaims() },
        { alg: key.alg, key: signKeyOf(key) },
      );
  }
}
