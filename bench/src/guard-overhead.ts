import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createAccessTokenIssuer,
  createKeySet,
  generateKey,
  type SelloKey,
} from "@sello/core/node";
import { createGuard, DEFAULT_GUARD_CACHE_ENTRIES, type Guard } from "@sello/guard";
import type { AutocannonRequest } from "autocannon";
import { BenchChild } from "./child.js";
import {
  AUDIENCE,
  CLIENT_ID,
  ISSUER,
  PERMISSIONS,
  ROLES,
  SESSION_ID,
  TOKEN_TTL_SECONDS,
} from "./fixtures.js";
import { runLoad } from "./load.js";
import { formatProfile, type ProfileEntry } from "./profile.js";
import { formatCount, formatMicros, renderTable, type SectionReport, verdict } from "./report.js";

const RESOURCE_URL_PATH = "/api/resource";
/** Concurrent keep-alive connections of every load run. */
const CONNECTIONS = 50;
/**
 * The fixed request rate of every run. Every server, bare or guarded, then handles the same
 * load, well below what it could sustain on a shared 2-core machine. The difference in CPU per
 * request is then the guard's work, not a change in how many requests share one turn of the
 * event loop.
 */
const REQUESTS_PER_SECOND = 1500;
/** Load before the first measured run of a mode, so the code is optimised and caches are filled. */
const WARM_UP_SECONDS = 1;
/** The length of one measured run. */
const MEASURE_SECONDS = 1.5;
/**
 * Unmeasured load right before each measured run. A server sits idle while the others are
 * measured, and this brings its code and caches back to the state of continuous load.
 */
const PRE_RUN_SECONDS = 0.5;
/** Measured runs per server, interleaved with the other servers of the mode; the median counts. */
const ROUNDS = 4;
/**
 * Distinct tokens cycled in order in the unique-token runs. Twice the guard's default cache of
 * 10,000 entries: cycling more tokens than an LRU cache holds makes every lookup a miss.
 */
const TOKEN_POOL_SIZE = 20_000;

type GuardAlgorithm = "HS256" | "ES256";
const ALGORITHMS: readonly GuardAlgorithm[] = ["HS256", "ES256"];

type ModeId = "unique" | "hit";

interface TokenMode {
  id: ModeId;
  title: string;
}

const MODES: readonly TokenMode[] = [
  { id: "unique", title: `unique tokens (${formatCount(TOKEN_POOL_SIZE)} cycled)` },
  { id: "hit", title: "cache hits (one token)" },
];

/** A server of children/guard-server.ts, measured in the listed modes (all when absent). */
interface Variant {
  id: string;
  label: string;
  modes?: readonly ModeId[];
}

interface Framework {
  bare: Variant;
  guarded: readonly Variant[];
}

const FRAMEWORKS: readonly Framework[] = [
  {
    bare: { id: "fastify-bare", label: "bare Fastify" },
    guarded: [
      { id: "fastify-sello", label: "Fastify + Sello guard" },
      { id: "fastify-jwt", label: "Fastify + @fastify/jwt", modes: ["unique"] },
      { id: "fastify-jwt-cache", label: "Fastify + @fastify/jwt (cache: true)", modes: ["hit"] },
    ],
  },
  {
    bare: { id: "express-bare", label: "bare Express" },
    guarded: [
      { id: "express-sello", label: "Express + Sello guard" },
      { id: "express-jsonwebtoken", label: "Express + jsonwebtoken" },
    ],
  },
  {
    bare: { id: "hono-bare", label: "bare Hono (node-server)" },
    guarded: [{ id: "hono-sello", label: "Hono (node-server) + Sello guard" }],
  },
];

/** The length of the profiled run that explains a missed target, in seconds. */
const PROFILE_SECONDS = 1.5;

/** The most CPU the Sello guard may add to a Fastify request, in microseconds. */
const FASTIFY_TARGETS: Record<ModeId, Record<GuardAlgorithm, number>> = {
  unique: { HS256: 4, ES256: 52 },
  hit: { HS256: 3, ES256: 3 },
};

interface RunResult {
  variant: Variant;
  /** Why the variant was not measured: it failed to start or responded with errors. */
  failure?: string;
  /** Medians over the rounds. */
  requestsPerSecond: number;
  /** User plus system time of every thread: the exact total, and the measure of added cost. */
  cpuMicrosPerRequest: number;
  /** The main thread's CPU time alone (exact), without garbage collection and compiler helpers. */
  mainMicrosPerRequest: number;
  /** CPU per request of each round, in round order. */
  cpuSamples: readonly number[];
  /** The busiest functions of a profiled run, when the Fastify Sello server missed its target. */
  profile?: ProfileEntry[];
  non2xx: number;
  errors: number;
}

interface Block {
  alg: GuardAlgorithm;
  mode: TokenMode;
  frameworks: { bare: RunResult; guarded: RunResult[] }[];
}

/** Per-request CPU time of `guard.handle` alone, measured in the runner process. */
interface InProcessCost {
  alg: GuardAlgorithm;
  /** Default cache, every token new to it (the unique-token pool). */
  cacheMiss: number;
  /** `cache: false`, the same tokens. */
  noCache: number;
  /** Default cache, one token. */
  cacheHit: number;
  /** Default cache filled with as many tokens as it holds, then one of them. */
  fullCacheHit: number;
}

/** Wall-clock length of one in-process measurement round, in milliseconds. */
const IN_PROCESS_ROUND_MS = 1000;
/** In-process rounds per configuration, after one warm-up round; the median counts. */
const IN_PROCESS_ROUNDS = 3;

/**
 * Measures the mean CPU time of `guard.handle` per call over {@link IN_PROCESS_ROUNDS} rounds
 * and returns the median. Each call gets a freshly built header string, as the HTTP parser delivers one.
 */
async function measureHandle(guard: Guard, tokens: readonly string[]): Promise<number> {
  let next = 0;
  const handleNext = async () => {
    const token = tokens[next] as string;
    next = next + 1 === tokens.length ? 0 : next + 1;
    const result = await guard.handle({ authorization: [`Bearer ${token}`] });
    if (!result.ok) {
      throw new Error(`The guard rejected a benchmark token: ${result.error.code}.`);
    }
  };

  const perCall: number[] = [];
  for (let round = -1; round < IN_PROCESS_ROUNDS; round++) {
    const cpuBefore = process.cpuUsage();
    const end = performance.now() + IN_PROCESS_ROUND_MS;
    let calls = 0;
    while (performance.now() < end) {
      for (let index = 0; index < 64; index++) {
        await handleNext();
      }
      calls += 64;
    }
    const used = process.cpuUsage(cpuBefore);
    // Round -1 is the warm-up.
    if (round >= 0) {
      perCall.push((used.user + used.system) / calls);
    }
  }
  return median(perCall);
}

/** Presents each token twice in a row, so that the guard's cache stores every one of them. */
async function fillCache(guard: Guard, tokens: readonly string[]): Promise<void> {
  for (const token of tokens) {
    for (let use = 0; use < 2; use++) {
      const result = await guard.handle({ authorization: [`Bearer ${token}`] });
      if (!result.ok) {
        throw new Error(`The guard rejected a benchmark token: ${result.error.code}.`);
      }
    }
  }
}

async function measureInProcess(
  alg: GuardAlgorithm,
  key: SelloKey,
  pool: readonly string[],
): Promise<InProcessCost> {
  const options = {
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: [alg],
    keys: createKeySet([key]),
    revocation: false as const,
  };
  const filled = createGuard(options);
  await fillCache(filled, pool.slice(0, DEFAULT_GUARD_CACHE_ENTRIES));
  const cost = {
    alg,
    cacheMiss: await measureHandle(createGuard(options), pool),
    noCache: await measureHandle(createGuard({ ...options, cache: false }), pool),
    cacheHit: await measureHandle(createGuard(options), pool.slice(0, 1)),
    fullCacheHit: await measureHandle(filled, pool.slice(0, 1)),
  };
  console.log(
    `  ${alg} guard.handle in process: ${formatMicros(cost.cacheMiss)} µs (cache miss), ${formatMicros(cost.noCache)} µs (no cache), ${formatMicros(cost.cacheHit)} µs (cache hit), ${formatMicros(cost.fullCacheHit)} µs (hit in a full cache)`,
  );
  return cost;
}

/** Signs `count` distinct access tokens (each has its own `jti`) with the Sello issuer. */
function issueTokens(key: SelloKey, count: number): string[] {
  const issue = createAccessTokenIssuer({
    issuer: ISSUER,
    audience: AUDIENCE,
    keys: { getSigningKey: () => key },
    accessTokenTtl: TOKEN_TTL_SECONDS,
    clientId: CLIENT_ID,
  });
  const tokens: string[] = [];
  for (let index = 0; index < count; index++) {
    tokens.push(
      issue({
        subject: `user-${index % 500}`,
        sessionId: SESSION_ID,
        roles: [...ROLES],
        permissions: [...PERMISSIONS],
      }).token,
    );
  }
  return tokens;
}

/**
 * Presents the tokens of a pool in turn. One cycler serves every run against a server, so each
 * run continues where the last stopped and a pool larger than the cache never hits it.
 */
class TokenCycler {
  readonly #tokens: readonly string[];
  #next = 0;

  constructor(tokens: readonly string[]) {
    this.#tokens = tokens;
  }

  request(): AutocannonRequest {
    return {
      method: "GET",
      path: RESOURCE_URL_PATH,
      setupRequest: (request) => {
        const token = this.#tokens[this.#next] as string;
        this.#next = this.#next + 1 === this.#tokens.length ? 0 : this.#next + 1;
        return { ...request, headers: { authorization: `Bearer ${token}` } };
      },
    };
  }
}

/** A server started once per algorithm, with its measurements in the current mode. */
interface RunningVariant {
  variant: Variant;
  child?: BenchChild;
  failure?: string;
  cycler: TokenCycler;
  cpuMicrosPerRequest: number[];
  mainMicrosPerRequest: number[];
  requestsPerSecond: number[];
  non2xx: number;
  errors: number;
  statusCodes: Record<string, number>;
  /** The profile of a run after the rounds, taken when a Fastify target is missed. */
  profile?: ProfileEntry[];
}

/** Forgets the measurements of the previous mode and presents `tokens` from now on. */
function resetVariant(running: RunningVariant, tokens: readonly string[]): void {
  running.cycler = new TokenCycler(tokens);
  running.cpuMicrosPerRequest = [];
  running.mainMicrosPerRequest = [];
  delete running.profile;
  running.requestsPerSecond = [];
  running.non2xx = 0;
  running.errors = 0;
  running.statusCodes = {};
}

async function startVariant(variant: Variant, settingsFile: string): Promise<RunningVariant> {
  const running: RunningVariant = {
    variant,
    cycler: new TokenCycler([]),
    cpuMicrosPerRequest: [],
    mainMicrosPerRequest: [],
    requestsPerSecond: [],
    non2xx: 0,
    errors: 0,
    statusCodes: {},
  };
  try {
    running.child = await BenchChild.start("./children/guard-server.ts", [
      variant.id,
      settingsFile,
    ]);
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    running.failure = `not available: ${message}`;
  }
  return running;
}

function loadOptions(running: RunningVariant, child: BenchChild, seconds: number) {
  return {
    url: `http://127.0.0.1:${child.info.port as number}${RESOURCE_URL_PATH}`,
    connections: CONNECTIONS,
    overallRate: REQUESTS_PER_SECOND,
    duration: seconds,
    requests: [running.cycler.request()],
  };
}

interface ThreadCpu {
  main: number;
  other: number;
}

/** Runs one measured run against a started server and records its CPU per request. */
async function measureRound(running: RunningVariant): Promise<void> {
  const child = running.child;
  if (child === undefined) {
    return;
  }
  await runLoad(loadOptions(running, child, PRE_RUN_SECONDS));
  const before = await child.cpuUsage();
  const threadsBefore = await child.call<ThreadCpu | null>("threads");
  const summary = await runLoad(loadOptions(running, child, MEASURE_SECONDS));
  const threadsAfter = await child.call<ThreadCpu | null>("threads");
  const after = await child.cpuUsage();

  // On kernels with tick-based accounting the split into user and system time is estimated from
  // timer ticks and rescaled over the process's whole life, so only the sum is exact.
  const cpu = after.user - before.user + (after.system - before.system);
  running.cpuMicrosPerRequest.push(cpu / summary.responses);
  running.mainMicrosPerRequest.push(
    threadsBefore === null || threadsAfter === null
      ? Number.NaN
      : (threadsAfter.main - threadsBefore.main) / summary.responses,
  );
  running.requestsPerSecond.push(summary.requestsPerSecond);
  running.non2xx += summary.non2xx;
  running.errors += summary.errors;
  for (const [code, count] of Object.entries(summary.statusCodes)) {
    running.statusCodes[code] = (running.statusCodes[code] ?? 0) + count;
  }
}

function median(values: readonly number[]): number {
  if (values.length === 0) {
    return Number.NaN;
  }
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function toResult(running: RunningVariant): RunResult {
  const result: RunResult = {
    variant: running.variant,
    requestsPerSecond: median(running.requestsPerSecond),
    cpuMicrosPerRequest: median(running.cpuMicrosPerRequest),
    mainMicrosPerRequest: median(running.mainMicrosPerRequest),
    cpuSamples: running.cpuMicrosPerRequest,
    ...(running.profile === undefined ? {} : { profile: running.profile }),
    non2xx: running.non2xx,
    errors: running.errors,
  };
  if (running.failure !== undefined) {
    result.failure = running.failure;
  } else if (running.non2xx > 0 || running.errors > 0) {
    result.failure = `${running.non2xx} non-2xx responses (${JSON.stringify(running.statusCodes)}) and ${running.errors} errors`;
  }
  return result;
}

function takesPart(variant: Variant, mode: TokenMode): boolean {
  return variant.modes === undefined || variant.modes.includes(mode.id);
}

/**
 * Measures the servers of one token mode, which are already running: a warm-up each, then
 * rounds that visit them in turn, so a change in the load that other processes put on the
 * machine affects bare and guarded servers alike.
 */
async function measureMode(
  alg: GuardAlgorithm,
  mode: TokenMode,
  running: readonly RunningVariant[],
  tokens: readonly string[],
): Promise<Block> {
  const participants = running.filter((entry) => takesPart(entry.variant, mode));
  for (const entry of participants) {
    resetVariant(entry, tokens);
    if (entry.child !== undefined) {
      await runLoad(loadOptions(entry, entry.child, WARM_UP_SECONDS));
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    const ordered = round % 2 === 0 ? participants : [...participants].reverse();
    for (const entry of ordered) {
      await measureRound(entry);
    }
  }

  await profileMissedTarget(alg, mode, participants);

  const results = new Map(participants.map((entry) => [entry.variant.id, toResult(entry)]));
  const block: Block = { alg, mode, frameworks: [] };
  for (const framework of FRAMEWORKS) {
    const bare = results.get(framework.bare.id) as RunResult;
    printRun(bare, undefined);
    const guarded = framework.guarded
      .filter((variant) => takesPart(variant, mode))
      .map((variant) => results.get(variant.id) as RunResult);
    for (const result of guarded) {
      printRun(result, bare);
    }
    block.frameworks.push({ bare, guarded });
  }
  return block;
}

/**
 * When the Fastify Sello server misses its target in this mode, profiles its main thread over
 * one more run at the same load, so the report can name where the time goes.
 */
async function profileMissedTarget(
  alg: GuardAlgorithm,
  mode: TokenMode,
  participants: readonly RunningVariant[],
): Promise<void> {
  const bare = participants.find((entry) => entry.variant.id === "fastify-bare");
  const sello = participants.find((entry) => entry.variant.id === "fastify-sello");
  const child = sello?.child;
  if (bare === undefined || sello === undefined || child === undefined) {
    return;
  }
  const added = median(sello.cpuMicrosPerRequest) - median(bare.cpuMicrosPerRequest);
  if (added <= FASTIFY_TARGETS[mode.id][alg]) {
    return;
  }
  try {
    sello.profile = await child.profile(() => runLoad(loadOptions(sello, child, PROFILE_SECONDS)));
  } catch (error) {
    console.log(`    profile failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Starts every server for one algorithm at once, measures both token modes, and stops them. */
async function measureAlgorithm(
  alg: GuardAlgorithm,
  settingsFile: string,
  pool: readonly string[],
): Promise<Block[]> {
  const variants = FRAMEWORKS.flatMap((framework) => [framework.bare, ...framework.guarded]);
  const running = await Promise.all(variants.map((variant) => startVariant(variant, settingsFile)));
  try {
    const blocks: Block[] = [];
    for (const mode of MODES) {
      console.log(`  ${alg}, ${mode.title}`);
      const tokens = mode.id === "unique" ? pool : pool.slice(0, 1);
      blocks.push(await measureMode(alg, mode, running, tokens));
    }
    return blocks;
  } finally {
    await Promise.all(running.map((entry) => entry.child?.stop()));
  }
}

function printRun(result: RunResult, bare: RunResult | undefined): void {
  if (result.failure !== undefined && Number.isNaN(result.cpuMicrosPerRequest)) {
    console.log(`    ${result.variant.label.padEnd(34)} ${result.failure}`);
    return;
  }
  const added =
    bare === undefined
      ? ""
      : `  (${formatSigned(result.cpuMicrosPerRequest - bare.cpuMicrosPerRequest)} µs)`;
  const failure = result.failure === undefined ? "" : `  ${result.failure}`;
  console.log(
    `    ${result.variant.label.padEnd(34)} ${formatCount(result.requestsPerSecond).padStart(7)} req/s  ${formatMicros(result.cpuMicrosPerRequest).padStart(6)} µs CPU/req, ${formatMicros(result.mainMicrosPerRequest).padStart(6)} µs main thread${added}${failure}`,
  );
}

/** Formats a difference in microseconds with its sign, such as "+4.20" or "-1.10". */
function formatSigned(micros: number): string {
  return `${micros >= 0 ? "+" : ""}${formatMicros(micros)}`;
}

function blockTable(block: Block): string {
  const rows: string[][] = [];
  for (const framework of block.frameworks) {
    const bare = framework.bare;
    for (const result of [bare, ...framework.guarded]) {
      const isBare = result === bare;
      const added = result.cpuMicrosPerRequest - bare.cpuMicrosPerRequest;
      const target =
        result.variant.id === "fastify-sello"
          ? FASTIFY_TARGETS[block.mode.id][block.alg]
          : undefined;
      const measured = !Number.isNaN(result.cpuMicrosPerRequest);
      rows.push([
        result.variant.label,
        measured ? formatCount(result.requestsPerSecond) : "",
        measured ? formatMicros(result.cpuMicrosPerRequest) : (result.failure ?? "n/a"),
        measured ? formatMicros(result.mainMicrosPerRequest) : "",
        isBare || !measured ? "" : formatSigned(added),
        target === undefined ? "" : `<= +${target}`,
        target === undefined || !measured
          ? ""
          : result.failure === undefined
            ? verdict(added <= target)
            : `**invalid**: ${result.failure}`,
        result.cpuSamples.map(formatMicros).join(" / "),
      ]);
    }
  }
  return renderTable({
    headers: [
      "server",
      "req/s",
      "CPU µs/req",
      "main thread µs/req",
      "added CPU µs/req",
      "target",
      "result",
      "CPU µs/req by round",
    ],
    rows,
  });
}

function inProcessTable(costs: readonly InProcessCost[]): string {
  return renderTable({
    headers: [
      "alg",
      "default cache, every token new (µs/call)",
      "cache: false (µs/call)",
      "default cache, one token (µs/call)",
      "full default cache, one token (µs/call)",
    ],
    rows: costs.map((cost) => [
      cost.alg,
      formatMicros(cost.cacheMiss),
      formatMicros(cost.noCache),
      formatMicros(cost.cacheHit),
      formatMicros(cost.fullCacheHit),
    ]),
  });
}

function renderSection(
  blocks: readonly Block[],
  inProcess: readonly InProcessCost[],
  measuredOn: string,
): string {
  const lines = [
    "## 3. Guard overhead",
    "",
    measuredOn,
    "",
    "How measured:",
    "",
    `- Servers: each runs in its own child process on 127.0.0.1 and responds to GET ${RESOURCE_URL_PATH} with the same small JSON body. The servers of one algorithm start together and stay up for both token modes.`,
    `- Load: autocannon, in the runner process, sends ${formatCount(REQUESTS_PER_SECOND)} requests/s over ${CONNECTIONS} keep-alive connections. Every server sustains this fixed rate on this machine, so bare and guarded servers handle the same load.`,
    `- Rounds: in each mode every server gets ${WARM_UP_SECONDS} s of warm-up, then ${ROUNDS} rounds visit the servers in turn, in alternating order, so load from other processes on the machine falls on all of them. In a round, a server gets ${PRE_RUN_SECONDS} s of unmeasured load and then a measured run of ${MEASURE_SECONDS} s.`,
    "- CPU per request: the child's CPU time (`process.cpuUsage`, user plus system time of all threads, garbage collection included) over a run, divided by its responses; the tables show the median of the rounds and the last column lists every round. The added cost of a guard is the difference to the bare server of the same framework in the same table. Every server does the same system work per request (the same response through `writev` and the loopback TCP stack), so the difference is the guard's work, including the garbage collection and page faults it causes.",
    "- Why not user time alone: this machine's kernel accounts CPU time by timer ticks (`CONFIG_TICK_CPU_ACCOUNTING`, 250 Hz). Only the sum of user and system time is exact; the kernel splits it in the proportion of the 4 ms ticks that found the process in each mode, counted over the process's whole life. Over a run of a few seconds the change in user time is then an estimate: in a check on this machine it came to between 49% and 88% of the exact total from one round to the next of the same server. Earlier versions of this section compared user time, so their figures are not comparable with these.",
    "- Main thread: the child's main-thread time alone from the scheduler's exact per-thread counters (`/proc/self/task/*/schedstat`). The difference to the CPU column is V8's helper threads, mostly garbage collection; a round in which a major collection ran shows a burst there.",
    `- Tokens: Sello access tokens (RFC 9068, with roles and permissions). Unique: a pool of ${formatCount(TOKEN_POOL_SIZE)} distinct tokens presented in turn, twice the Sello guard's default cache size, so every Sello lookup misses its LRU cache and pays for verification; the guard stores a token only on its second verification within the last ${formatCount(DEFAULT_GUARD_CACHE_ENTRIES)} to ${formatCount(2 * DEFAULT_GUARD_CACHE_ENTRIES)}, so it stores none of them. @fastify/jwt runs with its cache off, its default. Cache hits: one token on every request, with the Sello guard's default cache and @fastify/jwt's \`cache: true\`. jsonwebtoken has no cache, so its rows do the same work in both modes.`,
    "- Guards: the Sello rows use the adapters `@sello/guard/fastify`, `/express` and `/hono` with `revocation: false` and no route requirement, because the other verifiers check no revocation either. Every guarded server checks issuer, audience and algorithm.",
  ];
  for (const block of blocks) {
    lines.push("", `### ${block.alg}, ${block.mode.title}`, "", blockTable(block));
  }
  lines.push(
    "",
    "### The Sello guard alone, in process",
    "",
    "CPU time per `guard.handle` call (bearer parsing, verification, cache) in the runner process,",
    `without HTTP: the median of ${IN_PROCESS_ROUNDS} rounds of ${IN_PROCESS_ROUND_MS / 1000} s after a warm-up round, with a newly built`,
    "`Authorization` string on each call as an HTTP parser delivers it, over the same token pool. The last",
    `column hits one token in a cache filled first with ${formatCount(DEFAULT_GUARD_CACHE_ENTRIES)} tokens, each presented twice so that the cache stores it.`,
    "",
    inProcessTable(inProcess),
  );

  const misses: string[] = [];
  for (const block of blocks) {
    const fastify = block.frameworks[0];
    const sello = fastify?.guarded.find((result) => result.variant.id === "fastify-sello");
    if (fastify === undefined || sello === undefined || Number.isNaN(sello.cpuMicrosPerRequest)) {
      continue;
    }
    const added = sello.cpuMicrosPerRequest - fastify.bare.cpuMicrosPerRequest;
    const target = FASTIFY_TARGETS[block.mode.id][block.alg];
    if (!(added <= target)) {
      const cost = inProcess.find((entry) => entry.alg === block.alg);
      const detail =
        cost === undefined
          ? ""
          : block.mode.id === "unique"
            ? ` In process, one guard.handle call costs ${formatMicros(cost.cacheMiss)} µs with the default cache missing and ${formatMicros(cost.noCache)} µs with \`cache: false\`.`
            : ` In process, one guard.handle call on a hit in a full cache costs ${formatMicros(cost.fullCacheHit)} µs.`;
      const mainAdded = sello.mainMicrosPerRequest - fastify.bare.mainMicrosPerRequest;
      const threads = Number.isNaN(mainAdded)
        ? ""
        : ` Of the added CPU, ${formatSigned(mainAdded)} µs is on the main thread and ${formatSigned(added - mainAdded)} µs on V8's helper threads.`;
      const profile =
        sello.profile === undefined || sello.profile.length === 0
          ? ""
          : ` Self time on the Sello server's main thread in a ${PROFILE_SECONDS} s profiled run, as a share of its ${formatMicros(sello.mainMicrosPerRequest)} µs per request (the bare server's main thread takes ${formatMicros(fastify.bare.mainMicrosPerRequest)} µs): ${formatProfile(sello.profile, sello.mainMicrosPerRequest)}.`;
      misses.push(
        `- Fastify + Sello guard, ${block.alg}, ${block.mode.title}: ${formatSigned(added)} µs of CPU per request, target <= +${target} µs.${detail}${threads}${profile}`,
      );
    }
  }
  if (misses.length > 0) {
    lines.push("", "### Missed targets", "", ...misses);
  }
  return lines.join("\n");
}

/** Runs section 3 and returns its RESULTS.md text. */
export async function runGuardBenchmarks(measuredOn: string): Promise<SectionReport> {
  console.log("3. Guard overhead (autocannon, one child process per server)");
  const directory = mkdtempSync(join(tmpdir(), "sello-bench-guard-"));
  try {
    const blocks: Block[] = [];
    const inProcess: InProcessCost[] = [];
    for (const alg of ALGORITHMS) {
      const key = generateKey(alg);
      const pool = issueTokens(key, TOKEN_POOL_SIZE);
      inProcess.push(await measureInProcess(alg, key, pool));
      const settingsFile = join(directory, `${alg}.json`);
      writeFileSync(settingsFile, JSON.stringify(describeKey(key)));
      blocks.push(...(await measureAlgorithm(alg, settingsFile, pool)));
    }
    return { id: "guard", markdown: renderSection(blocks, inProcess, measuredOn) };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Describes the verification key in the form the guard-server child reads from its settings file. */
function describeKey(key: SelloKey): Record<string, unknown> {
  if (key.alg === "HS256") {
    return { alg: key.alg, secret: key.verifyKey.export().toString("base64url") };
  }
  return {
    alg: key.alg,
    publicPem: key.verifyKey.export({ type: "spki", format: "pem" }) as string,
  };
}
