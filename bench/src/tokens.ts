import {
  createHmac,
  type KeyObject,
  type SignKeyObjectInput,
  sign,
  timingSafeEqual,
  type VerifyKeyObjectInput,
  verify,
  type webcrypto,
} from "node:crypto";
import type { AccessTokenClaims } from "@sello/core";
import {
  createAccessTokenIssuer,
  createKeySet,
  createVerifier,
  generateKey,
  type SelloKey,
  signJws,
  type Verifier,
} from "@sello/core/node";
import { createSigner as createFastSigner, createVerifier as createFastVerifier } from "fast-jwt";
import { importPKCS8, importSPKI, jwtVerify, SignJWT } from "jose";
import jsonwebtoken from "jsonwebtoken";
import { measure } from "mitata";
import {
  AUDIENCE,
  accessTokenPayload,
  CLIENT_ID,
  ISSUER,
  PERMISSIONS,
  ROLES,
  SESSION_ID,
  SUBJECT,
  TOKEN_ALGORITHMS,
  TOKEN_TTL_SECONDS,
  type TokenAlgorithm,
} from "./fixtures.js";
import { formatProfile, type ProfileEntry, profileOperation } from "./profile.js";
import { formatMicros, formatRatio, renderTable, type SectionReport, verdict } from "./report.js";

type Operation = () => unknown;

/** One library's sign or verify call for one algorithm, or the reason it has none. */
interface Contender {
  library: string;
  run?: Operation;
  unsupported?: string;
}

/** Measured mean cost of one call, in microseconds, or the reason it was not measured. */
interface Measurement {
  library: string;
  micros: number;
  note?: string;
}

const FLOOR = "node:crypto floor";
const SELLO_ISSUER = "Sello createAccessTokenIssuer";
const SELLO_SIGN_JWS = "Sello signJws";
const SELLO_VERIFIER = "Sello createVerifier (no cache)";
const PAYLOAD_REFERENCE = "floor + payload base64url and JSON.parse";

/** Each operation runs for at least this much CPU time per round, in nanoseconds. */
const MIN_CPU_TIME_NS = 400e6;
/** Every operation is measured in this many rounds and the fastest round counts. */
const ROUNDS = 2;
/** Time spent calling an operation before mitata measures it, in milliseconds. */
const WARM_UP_MS = 150;
/** The target CPU time of one mitata sample, in microseconds. */
const SAMPLE_MICROS = 5000;
/** How long a Sello operation that missed its target runs under the profiler, in milliseconds. */
const PROFILE_MS = 1000;

/** The upper bounds of the token targets, as multiples of the node:crypto floor. */
const VERIFY_TARGET: Record<TokenAlgorithm, number> = {
  HS256: 2,
  ES256: 1.05,
  EdDSA: 1.05,
  RS256: 1.05,
};
const SIGN_TARGET: Record<TokenAlgorithm, number> = {
  HS256: 2.5,
  ES256: 1.2,
  EdDSA: 1.2,
  RS256: 1.2,
};

/** The key material of one algorithm in the forms each library takes. */
interface AlgorithmKeys {
  alg: TokenAlgorithm;
  sello: SelloKey;
  signKey: KeyObject;
  verifyKey: KeyObject;
  /** PEM (asymmetric) or the raw secret (HS256), for fast-jwt. */
  fastSignKey: string | Buffer;
  fastVerifyKey: string | Buffer;
  /** WebCrypto keys, the form jose 6 uses natively. */
  joseSignKey: webcrypto.CryptoKey;
  joseVerifyKey: webcrypto.CryptoKey;
}

async function prepareKeys(alg: TokenAlgorithm): Promise<AlgorithmKeys> {
  const sello = generateKey(alg);
  const signKey = sello.signKey as KeyObject;
  const verifyKey = sello.verifyKey;

  if (alg === "HS256") {
    const secret = signKey.export();
    const hmac = { name: "HMAC", hash: "SHA-256" };
    const joseKey = await crypto.subtle.importKey("raw", secret, hmac, false, ["sign", "verify"]);
    return {
      alg,
      sello,
      signKey,
      verifyKey,
      fastSignKey: secret,
      fastVerifyKey: secret,
      joseSignKey: joseKey,
      joseVerifyKey: joseKey,
    };
  }

  const privatePem = signKey.export({ type: "pkcs8", format: "pem" }) as string;
  const publicPem = verifyKey.export({ type: "spki", format: "pem" }) as string;
  return {
    alg,
    sello,
    signKey,
    verifyKey,
    fastSignKey: privatePem,
    fastVerifyKey: publicPem,
    joseSignKey: await importPKCS8(privatePem, alg),
    joseVerifyKey: await importSPKI(publicPem, alg),
  };
}

/** Returns the bare node:crypto sign and verify calls of the algorithm, with the options a JWS needs. */
function floorOperations(
  keys: AlgorithmKeys,
  token: string,
): { sign: Operation; verify: Operation } {
  const lastDot = token.lastIndexOf(".");
  const signingInput = Buffer.from(token.slice(0, lastDot), "latin1");
  const signature = Buffer.from(token.slice(lastDot + 1), "base64url");

  if (keys.alg === "HS256") {
    return {
      sign: () => createHmac("sha256", keys.signKey).update(signingInput).digest(),
      verify: () =>
        timingSafeEqual(
          createHmac("sha256", keys.verifyKey).update(signingInput).digest(),
          signature,
        ),
    };
  }

  const digest = keys.alg === "EdDSA" ? null : "sha256";
  let signInput: KeyObject | SignKeyObjectInput = keys.signKey;
  let verifyInput: KeyObject | VerifyKeyObjectInput = keys.verifyKey;
  if (keys.alg === "ES256") {
    signInput = { key: keys.signKey, dsaEncoding: "ieee-p1363" };
    verifyInput = { key: keys.verifyKey, dsaEncoding: "ieee-p1363" };
  }
  return {
    sign: () => sign(digest, signingInput, signInput),
    verify: () => verify(digest, signingInput, verifyInput, signature),
  };
}

function signContenders(
  keys: AlgorithmKeys,
  token: string,
  payload: AccessTokenClaims,
): Contender[] {
  const { alg, sello } = keys;
  const header = { alg, typ: "at+jwt", kid: sello.kid };
  const issue = createAccessTokenIssuer({
    issuer: ISSUER,
    audience: AUDIENCE,
    keys: { getSigningKey: () => sello },
    accessTokenTtl: TOKEN_TTL_SECONDS,
    clientId: CLIENT_ID,
  });
  const request = {
    subject: SUBJECT,
    sessionId: SESSION_ID,
    roles: [...ROLES],
    permissions: [...PERMISSIONS],
  };
  const fastSign = createFastSigner({
    key: keys.fastSignKey,
    algorithm: alg,
    kid: sello.kid,
    header: { alg, typ: "at+jwt" },
  });

  return [
    { library: FLOOR, run: floorOperations(keys, token).sign },
    { library: SELLO_ISSUER, run: () => issue(request).token },
    { library: SELLO_SIGN_JWS, run: () => signJws(sello, header, payload) },
    {
      library: "jose SignJWT",
      run: () => new SignJWT(payload).setProtectedHeader(header).sign(keys.joseSignKey),
    },
    { library: "fast-jwt createSigner", run: () => fastSign(payload) },
    alg === "EdDSA"
      ? { library: "jsonwebtoken sign", unsupported: "jsonwebtoken 9 has no EdDSA" }
      : {
          library: "jsonwebtoken sign",
          run: () =>
            jsonwebtoken.sign(payload, keys.signKey, {
              algorithm: alg,
              keyid: sello.kid,
              header: { alg, typ: "at+jwt" },
            }),
        },
  ];
}

function createSelloVerifier(keys: AlgorithmKeys, cache: boolean): Verifier {
  return createVerifier({
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: [keys.alg],
    keys: createKeySet([keys.sello]),
    cache: cache ? { maxEntries: 10_000 } : false,
  });
}

function createFastJwtVerifier(keys: AlgorithmKeys, cache: boolean): (token: string) => unknown {
  return createFastVerifier({
    key: keys.fastVerifyKey,
    algorithms: [keys.alg],
    allowedIss: ISSUER,
    allowedAud: AUDIENCE,
    checkTyp: "at+jwt",
    cache,
  });
}

/**
 * The floor plus the least work any verifier that returns claims must add: decoding the payload
 * segment and JSON.parse. A reference row, not a library.
 */
function payloadReference(floorVerify: Operation, token: string): Operation {
  const start = token.indexOf(".") + 1;
  const end = token.indexOf(".", start);
  return () => {
    floorVerify();
    return JSON.parse(Buffer.from(token.slice(start, end), "base64url").toString("utf8"));
  };
}

function verifyContenders(keys: AlgorithmKeys, token: string): Contender[] {
  const { alg } = keys;
  const floorVerify = floorOperations(keys, token).verify;
  const selloVerify = createSelloVerifier(keys, false);
  const fastVerify = createFastJwtVerifier(keys, false);
  const joseOptions = { issuer: ISSUER, audience: AUDIENCE, algorithms: [alg], typ: "at+jwt" };
  const jsonwebtokenOptions = {
    algorithms: [alg as jsonwebtoken.Algorithm],
    issuer: ISSUER,
    audience: AUDIENCE,
  };

  return [
    { library: FLOOR, run: floorVerify },
    { library: PAYLOAD_REFERENCE, run: payloadReference(floorVerify, token) },
    { library: SELLO_VERIFIER, run: () => selloVerify(token) },
    { library: "jose jwtVerify", run: () => jwtVerify(token, keys.joseVerifyKey, joseOptions) },
    { library: "fast-jwt createVerifier", run: () => fastVerify(token) },
    alg === "EdDSA"
      ? { library: "jsonwebtoken verify", unsupported: "jsonwebtoken 9 has no EdDSA" }
      : {
          library: "jsonwebtoken verify",
          run: () => jsonwebtoken.verify(token, keys.verifyKey, jsonwebtokenOptions),
        },
  ];
}

/**
 * Process CPU time in nanoseconds (user plus system, all threads), with microsecond resolution.
 * Other processes on a shared machine then delay a measurement without inflating it.
 */
function cpuTimeNs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) * 1000;
}

/**
 * Runs an operation for a while so that V8 has optimised it before mitata measures it, and
 * returns the estimated wall-clock time of one call in microseconds.
 */
async function warmUp(operation: Operation): Promise<number> {
  const start = performance.now();
  const end = start + WARM_UP_MS;
  let calls = 0;
  while (performance.now() < end) {
    for (let index = 0; index < 16; index++) {
      await operation();
    }
    calls += 16;
  }
  return ((performance.now() - start) * 1000) / calls;
}

/**
 * Returns the number of calls per mitata sample, so that one sample lasts about {@link SAMPLE_MICROS}:
 * long enough that the 1 µs resolution and the cost of reading the CPU clock (about 1 µs) stay
 * below 0.1% of a sample. mitata runs a batch in unrolled groups of 4, hence a multiple of 4.
 */
function batchSize(estimatedMicros: number): number {
  const calls = Math.round(SAMPLE_MICROS / Math.max(estimatedMicros, 0.01) / 4) * 4;
  return Math.min(Math.max(calls, 4), 65_536);
}

/** Returns the mean CPU time of one call in microseconds, the lowest of {@link ROUNDS} rounds. */
async function measureRounds(contenders: readonly Contender[]): Promise<Measurement[]> {
  const best = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    // Alternating the order keeps a slow start or a warm cache from favouring one library.
    const ordered = round % 2 === 0 ? contenders : [...contenders].reverse();
    for (const contender of ordered) {
      if (contender.run === undefined) {
        continue;
      }
      const estimate = await warmUp(contender.run);
      const stats = await measure(contender.run, {
        now: cpuTimeNs,
        min_cpu_time: MIN_CPU_TIME_NS,
        batch_threshold: Number.MAX_SAFE_INTEGER,
        batch_samples: batchSize(estimate),
      });
      const micros = stats.avg / 1000;
      best.set(contender.library, Math.min(best.get(contender.library) ?? Infinity, micros));
    }
  }
  return contenders.map((contender) =>
    contender.run === undefined
      ? {
          library: contender.library,
          micros: Number.NaN,
          note: contender.unsupported ?? "not measured",
        }
      : { library: contender.library, micros: best.get(contender.library) as number },
  );
}

/** Checks that every contender produces a token Sello accepts, or accepts the Sello token. */
async function checkContenders(
  keys: AlgorithmKeys,
  signers: readonly Contender[],
  verifiers: readonly Contender[],
): Promise<void> {
  const selloVerify = createSelloVerifier(keys, false);
  for (const signer of signers) {
    if (signer.run === undefined || signer.library === FLOOR) {
      continue;
    }
    const output = await signer.run();
    const claims = selloVerify(output as string);
    if (claims.sub !== SUBJECT) {
      throw new Error(`${signer.library} ${keys.alg} produced a token with the wrong subject.`);
    }
  }
  for (const verifier of verifiers) {
    if (verifier.run === undefined || verifier.library === FLOOR) {
      continue;
    }
    const output = await verifier.run();
    if (output === false) {
      throw new Error(`${verifier.library} ${keys.alg} rejected the Sello token.`);
    }
  }
}

/** A Sello row checked against its target: the ratio to the floor and the upper bound. */
interface TargetCheck {
  alg: TokenAlgorithm;
  operation: "sign" | "verify";
  library: string;
  micros: number;
  floorMicros: number;
  bound: number;
  met: boolean;
  /** The busiest functions of a missed row, from a profile taken after measuring. */
  profile?: ProfileEntry[];
}

interface AlgorithmResult {
  alg: TokenAlgorithm;
  sign: Measurement[];
  verify: Measurement[];
  reference: Measurement | undefined;
  cached: { sello: number; fastJwt: number };
  checks: TargetCheck[];
}

/** The Sello rows that carry a target, with the operation to profile when one is missed. */
const TARGET_ROWS: Record<"sign" | "verify", readonly string[]> = {
  sign: [SELLO_ISSUER, SELLO_SIGN_JWS],
  verify: [SELLO_VERIFIER],
};

/** Compares each Sello row with its target and profiles the rows that miss it. */
async function checkTargets(
  alg: TokenAlgorithm,
  operation: "sign" | "verify",
  contenders: readonly Contender[],
  measurements: readonly Measurement[],
): Promise<TargetCheck[]> {
  const floorMicros = measurements.find((entry) => entry.library === FLOOR)?.micros ?? Number.NaN;
  const bound = operation === "sign" ? SIGN_TARGET[alg] : VERIFY_TARGET[alg];
  const checks: TargetCheck[] = [];
  for (const library of TARGET_ROWS[operation]) {
    const micros = measurements.find((entry) => entry.library === library)?.micros ?? Number.NaN;
    const check: TargetCheck = {
      alg,
      operation,
      library,
      micros,
      floorMicros,
      bound,
      met: micros / floorMicros <= bound,
    };
    const run = contenders.find((contender) => contender.library === library)?.run;
    if (!check.met && run !== undefined) {
      check.profile = await profileOperation(run, PROFILE_MS);
    }
    checks.push(check);
  }
  return checks;
}

async function benchmarkAlgorithm(alg: TokenAlgorithm): Promise<AlgorithmResult> {
  const keys = await prepareKeys(alg);
  const payload = accessTokenPayload(Math.floor(Date.now() / 1000));
  const token = signJws(keys.sello, { typ: "at+jwt", kid: keys.sello.kid }, payload);

  const signers = signContenders(keys, token, payload);
  const verifiers = verifyContenders(keys, token);
  await checkContenders(keys, signers, verifiers);

  const signResults = await measureRounds(signers);
  printMeasurements(`${alg} sign`, signResults);
  const verifyResults = await measureRounds(verifiers);
  printMeasurements(`${alg} verify`, verifyResults);

  const selloCached = createSelloVerifier(keys, true);
  const fastCached = createFastJwtVerifier(keys, true);
  const cachedResults = await measureRounds([
    { library: "Sello", run: () => selloCached(token) },
    { library: "fast-jwt", run: () => fastCached(token) },
  ]);
  printMeasurements(`${alg} cached verify`, cachedResults);

  const checks = [
    ...(await checkTargets(alg, "sign", signers, signResults)),
    ...(await checkTargets(alg, "verify", verifiers, verifyResults)),
  ];
  return {
    alg,
    sign: signResults.filter((entry) => entry.library !== PAYLOAD_REFERENCE),
    verify: verifyResults.filter((entry) => entry.library !== PAYLOAD_REFERENCE),
    reference: verifyResults.find((entry) => entry.library === PAYLOAD_REFERENCE),
    cached: {
      sello: cachedResults[0]?.micros ?? Number.NaN,
      fastJwt: cachedResults[1]?.micros ?? Number.NaN,
    },
    checks,
  };
}

function printMeasurements(title: string, measurements: readonly Measurement[]): void {
  const floor = measurements.find((entry) => entry.library === FLOOR)?.micros;
  console.log(`  ${title}`);
  for (const entry of measurements) {
    const ratio = floor === undefined ? "" : `  ${formatRatio(entry.micros / floor)}`;
    const value = Number.isNaN(entry.micros)
      ? (entry.note ?? "n/a")
      : `${formatMicros(entry.micros)} µs${ratio}`;
    console.log(`    ${entry.library.padEnd(42)} ${value}`);
  }
}

function operationTable(results: readonly AlgorithmResult[], operation: "sign" | "verify"): string {
  const rows: string[][] = [];
  for (const result of results) {
    const measurements = [...result[operation]];
    if (operation === "verify" && result.reference !== undefined) {
      measurements.splice(1, 0, result.reference);
    }
    const floor = measurements.find((entry) => entry.library === FLOOR)?.micros ?? Number.NaN;
    for (const entry of measurements) {
      const check = result.checks.find(
        (candidate) => candidate.operation === operation && candidate.library === entry.library,
      );
      const measured = !Number.isNaN(entry.micros);
      rows.push([
        result.alg,
        entry.library,
        measured ? formatMicros(entry.micros) : (entry.note ?? "n/a"),
        measured ? formatRatio(entry.micros / floor) : "",
        check === undefined ? "" : `<= ${check.bound}x`,
        check === undefined ? "" : verdict(check.met),
      ]);
    }
  }
  return renderTable({
    headers: ["alg", "library", "µs/op", "vs floor", "target", "result"],
    rows,
  });
}

function cachedTable(results: readonly AlgorithmResult[]): string {
  const rows = results.map((result) => [
    result.alg,
    formatMicros(result.cached.sello),
    formatMicros(result.cached.fastJwt),
    formatRatio(result.cached.sello / result.cached.fastJwt),
    "<= 1.00x",
    verdict(result.cached.sello <= result.cached.fastJwt),
  ]);
  return renderTable({
    headers: ["alg", "Sello µs/op", "fast-jwt µs/op", "Sello / fast-jwt", "target", "result"],
    rows,
  });
}

/** Describes a missed target in one line: the gap over the floor and where the profile puts the time. */
function describeMiss(check: TargetCheck, reference: Measurement | undefined): string {
  const overhead = check.micros - check.floorMicros;
  const parts = [
    `- ${check.alg} ${check.operation}, ${check.library}: ${formatRatio(check.micros / check.floorMicros)} of the floor (target <= ${check.bound}x), ${formatMicros(overhead)} µs above it.`,
  ];
  if (check.operation === "verify" && reference !== undefined) {
    const parseCost = reference.micros - check.floorMicros;
    const allowed = check.floorMicros * (check.bound - 1);
    parts.push(
      `Decoding and JSON.parse of the payload alone cost ${formatMicros(parseCost)} µs (the reference row), while the target leaves ${formatMicros(allowed)} µs for everything above the floor.`,
    );
  }
  if (check.profile !== undefined && check.profile.length > 0) {
    parts.push(
      `Self time in a ${PROFILE_MS} ms profile, as a share of the ${formatMicros(check.micros)} µs: ${formatProfile(check.profile, check.micros)}.`,
    );
  }
  return parts.join(" ");
}

function renderSection(results: readonly AlgorithmResult[], measuredOn: string): string {
  const lines = [
    "## 1. Token sign and verify",
    "",
    measuredOn,
    "",
    "How measured:",
    "",
    `- Timing: one process, mitata \`measure\` with process CPU time as its clock (\`process.cpuUsage\`, so other processes on the machine do not inflate it), in samples of about ${SAMPLE_MICROS / 1000} ms, for at least ${MIN_CPU_TIME_NS / 1e9} s per operation after ${WARM_UP_MS} ms of warm-up calls. Each operation is measured in ${ROUNDS} rounds of alternating order, and the tables show the mean CPU time per call of the faster round.`,
    "- Inputs: every library signs the same RFC 9068 payload (`typ: at+jwt`, `kid`, roles and permissions) and verifies the same Sello-signed token, checking issuer, audience and algorithm, plus `typ` where the library offers it (jose, fast-jwt). RS256 uses a 3072-bit key, the size Sello generates.",
    "- Keys: node:crypto KeyObjects for Sello, jsonwebtoken and the floor, WebCrypto CryptoKeys for jose 6, and PEM text or the raw secret for fast-jwt.",
    "- Floor: the bare node:crypto call on the same signing input, `crypto.sign`/`crypto.verify` with KeyObjects, and for HS256 `createHmac` (plus `timingSafeEqual` to verify). It encodes and parses nothing. The reference row adds to the floor the base64url decoding and JSON.parse of the payload, which any verifier that returns claims must do.",
    "- Sello: `createAccessTokenIssuer` builds fresh claims (`iat`, a random `jti`) on each call, while `signJws` signs the fixed payload, as the other libraries do. `createVerifier` runs with `cache: false` except in the cached table.",
    "- jose returns a promise, so its rows include one `await`. Its WebCrypto work runs on the libuv thread pool and is counted, because the clock is the CPU time of the whole process.",
    "- Profiles: in the profiles under Missed targets, frames without a file are native code. In Node.js 20, `run` and `SignJob` are the node:crypto signature job that `crypto.sign` and `crypto.verify` call, and `init`, `update` and `digest` belong to `createHmac`.",
    "",
    "### Sign",
    "",
    operationTable(results, "sign"),
    "",
    "### Verify (no cache)",
    "",
    operationTable(results, "verify"),
    "",
    "### Cached verify (the same token again: cache hit)",
    "",
    "Sello `createVerifier` with `cache: { maxEntries: 10000 }` against fast-jwt `createVerifier`",
    "with `cache: true`, both verifying one token over and over.",
    "",
    cachedTable(results),
  ];

  const misses = results.flatMap((result) =>
    result.checks
      .filter((check) => !check.met)
      .map((check) => describeMiss(check, result.reference)),
  );
  for (const result of results) {
    if (!(result.cached.sello <= result.cached.fastJwt)) {
      misses.push(
        `- ${result.alg} cached verify: Sello ${formatMicros(result.cached.sello)} µs against fast-jwt ${formatMicros(result.cached.fastJwt)} µs.`,
      );
    }
  }
  if (misses.length > 0) {
    lines.push("", "### Missed targets", "", ...misses);
  }
  return lines.join("\n");
}

/** Runs section 1 and returns its RESULTS.md text. */
export async function runTokenBenchmarks(measuredOn: string): Promise<SectionReport> {
  console.log("1. Token sign and verify (mitata)");
  const results: AlgorithmResult[] = [];
  for (const alg of TOKEN_ALGORITHMS) {
    results.push(await benchmarkAlgorithm(alg));
  }
  return { id: "tokens", markdown: renderSection(results, measuredOn) };
}
