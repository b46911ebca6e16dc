import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import type { AutocannonRequest } from "autocannon";
import { BenchChild } from "./child.js";
import { type ProbeResult, probeLatency } from "./latency-probe.js";
import { type LoadSummary, runLoad } from "./load.js";
import { formatProfile, type ProfileEntry } from "./profile.js";
import { formatCount, formatRatio, renderTable, type SectionReport, verdict } from "./report.js";

/** Users the server creates at start; logins cycle through them. */
const USER_COUNT = 16;
/** The password of every benchmark user: long and not on the common-password list. */
const PASSWORD = "bench-Kestrel-harbour-7241";

/** Both login limits of the benchmark server. */
const LOGIN_LIMIT = 1000;

/** Concurrent logins, and concurrent argon2 verifications in the raw hashing run. */
const LOGIN_CONCURRENCY = 8;
const LOGIN_WARM_UP_SECONDS = 2;
const LOGIN_MEASURE_SECONDS = 10;
const ARGON2_SECONDS = 10;

/** The pace of the GET /auth/me latency probe, idle and during the login load. */
const PROBE_RATE_PER_SECOND = 200;
const PROBE_SECONDS = 6;

const REFRESH_CONNECTIONS = 32;
const REFRESH_WARM_UP_SECONDS = 2;
const REFRESH_MEASURE_SECONDS = 10;
/** Sessions to hold before the refresh run: several per connection, so one is always ready. */
const MIN_SESSIONS = REFRESH_CONNECTIONS * 8;

/** The length of the extra refresh run that is profiled when the refresh target is missed. */
const PROFILE_SECONDS = 3;

const TARGET_REFRESH_PER_SECOND = 3000;
const TARGET_LOGIN_RATIO = 0.9;
const TARGET_ME_P99_RATIO = 2;

interface TokenResponse {
  access_token?: string;
  refresh_token?: string;
}

/** Refresh tokens that are ready to present, each the newest of its session. */
class SessionPool {
  readonly #ready: string[] = [];
  #head = 0;
  accessToken: string | undefined;

  get size(): number {
    return this.#ready.length - this.#head;
  }

  /** Stores the tokens of a 200 login or refresh response. */
  addResponse(body: string): void {
    const parsed = JSON.parse(body) as TokenResponse;
    if (parsed.refresh_token !== undefined) {
      this.#ready.push(parsed.refresh_token);
    }
    if (parsed.access_token !== undefined) {
      this.accessToken = parsed.access_token;
    }
  }

  /** Takes the oldest ready refresh token; it must not be presented again. */
  take(): string | undefined {
    if (this.#head === this.#ready.length) {
      return undefined;
    }
    const token = this.#ready[this.#head++];
    if (this.#head > 4096 && this.#head * 2 > this.#ready.length) {
      this.#ready.splice(0, this.#head);
      this.#head = 0;
    }
    return token;
  }
}

function loginRequest(usernames: readonly string[], sessions: SessionPool): AutocannonRequest {
  let next = 0;
  return {
    method: "POST",
    path: "/auth/login",
    headers: { "content-type": "application/json" },
    setupRequest: (request) => {
      const username = usernames[next % usernames.length] as string;
      next++;
      const body = JSON.stringify({ username, password: PASSWORD, refresh_token_delivery: "body" });
      return { ...request, body };
    },
    onResponse: (status, body) => {
      if (status === 200) {
        sessions.addResponse(body);
      }
    },
  };
}

/**
 * Builds one autocannon request that presents a refresh token that no request has presented yet and puts the
 * successor from each 200 response back in the pool, so every session's chain stays valid.
 */
function refreshRequest(sessions: SessionPool, counters: { starved: number }): AutocannonRequest {
  return {
    method: "POST",
    path: "/auth/refresh",
    headers: { "content-type": "application/json" },
    setupRequest: (request) => {
      const token = sessions.take();
      if (token === undefined) {
        // Cannot happen while the pool contains more sessions than there are connections; a
        // malformed token makes the miss visible as a non-200 response.
        counters.starved++;
      }
      return { ...request, body: JSON.stringify({ refresh_token: token ?? "starved" }) };
    },
    onResponse: (status, body) => {
      if (status === 200) {
        sessions.addResponse(body);
      }
    },
  };
}

/** Logs in with fetch until the pool contains `count` sessions. */
async function fillSessions(
  url: string,
  usernames: readonly string[],
  sessions: SessionPool,
  count: number,
): Promise<void> {
  let next = 0;
  async function worker(): Promise<void> {
    while (sessions.size < count) {
      const username = usernames[next++ % usernames.length] as string;
      const response = await fetch(`${url}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username, password: PASSWORD, refresh_token_delivery: "body" }),
      });
      const body = await response.text();
      if (response.status !== 200) {
        throw new Error(
          `Login for the refresh pool failed with status ${response.status}: ${body}`,
        );
      }
      sessions.addResponse(body);
    }
  }
  await Promise.all(Array.from({ length: LOGIN_CONCURRENCY }, () => worker()));
}

interface ServerResults {
  algorithm: string;
  argon2PerSecond: number;
  argon2CpuMicros: number;
  login: LoadSummary;
  loginCpuMicros: number;
  /** The main thread's busiest functions during logins, when the login target was missed. */
  loginProfile: ProfileEntry[] | undefined;
  idle: ProbeResult;
  loaded: ProbeResult;
  loadedLogins: LoadSummary;
  sessionsAtStart: number;
  refresh: LoadSummary;
  refreshCpuMicros: number;
  /** The busiest functions on the server's main thread during refreshes, when the target was missed. */
  refreshProfile: ProfileEntry[] | undefined;
  starved: number;
}

/** The raw argon2id child, which measures in several runs whose results add up. */
interface Argon2Floor {
  run(seconds: number): Promise<void>;
  result(): { perSecond: number; cpuMicros: number };
  stop(): Promise<void>;
}

async function startArgon2Floor(): Promise<Argon2Floor> {
  const child = await BenchChild.start("./children/argon2-floor.ts", [], {
    BENCH_PASSWORD: PASSWORD,
  });
  // A short run first, so the thread pool and the allocator are warm.
  await child.call("run", { concurrency: LOGIN_CONCURRENCY, seconds: 1 });
  const total = { verifications: 0, seconds: 0, cpuMicros: 0 };
  let stopped = false;
  return {
    async run(seconds) {
      const result = await child.call<{
        verifications: number;
        seconds: number;
        cpuMicros: number;
      }>("run", { concurrency: LOGIN_CONCURRENCY, seconds });
      total.verifications += result.verifications;
      total.seconds += result.seconds;
      total.cpuMicros += result.cpuMicros;
    },
    result() {
      return {
        perSecond: total.verifications / total.seconds,
        cpuMicros: total.cpuMicros / total.verifications,
      };
    },
    async stop() {
      if (!stopped) {
        stopped = true;
        await child.stop();
      }
    },
  };
}

async function measureServer(): Promise<ServerResults> {
  const floor = await startArgon2Floor();
  const dataDir = mkdtempSync(join(tmpdir(), "sello-bench-server-"));
  const child = await BenchChild.start("./children/auth-server.ts", [], {
    SELLO_DATA_DIR: dataDir,
    SELLO_HOST: "127.0.0.1",
    SELLO_PORT: "0",
    SELLO_PUBLIC_URL: "http://127.0.0.1",
    SELLO_LOG_LEVEL: "silent",
    SELLO_DEMO_USERS: "off",
    // The limits count failed logins only, and every benchmark login succeeds. 1,000 is the
    // largest value the login limiter accepts for either limit.
    SELLO_LOGIN_MAX_ATTEMPTS_PER_IP: String(LOGIN_LIMIT),
    SELLO_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: String(LOGIN_LIMIT),
    BENCH_USER_COUNT: String(USER_COUNT),
    BENCH_PASSWORD: PASSWORD,
  }).catch(async (error: unknown) => {
    await floor.stop();
    throw error;
  });

  try {
    const url = child.info.url as string;
    const usernames = child.info.usernames as string[];
    const sessions = new SessionPool();

    // Login throughput, measured between two halves of the raw argon2id run, so that a change
    // in the machine's speed during the section affects both figures alike.
    const login = { url: `${url}/auth/login`, connections: LOGIN_CONCURRENCY };
    await runLoad({
      ...login,
      duration: LOGIN_WARM_UP_SECONDS,
      requests: [loginRequest(usernames, sessions)],
    });
    await floor.run(ARGON2_SECONDS / 2);
    let cpuBefore = await child.cpuMicros();
    const loginSummary = await runLoad({
      ...login,
      duration: LOGIN_MEASURE_SECONDS,
      requests: [loginRequest(usernames, sessions)],
    });
    const loginCpuMicros = ((await child.cpuMicros()) - cpuBefore) / loginSummary.responses;
    await floor.run(ARGON2_SECONDS / 2);
    await floor.stop();
    const argon2 = floor.result();
    console.log(
      `  raw argon2id verify: ${formatCount(argon2.perSecond)}/s at concurrency ${LOGIN_CONCURRENCY}`,
    );
    console.log(
      `  login: ${formatCount(loginSummary.requestsPerSecond)}/s, non-200 ${loginSummary.non2xx}, errors ${loginSummary.errors}`,
    );

    // A missed target gets a profile of the server's main thread during a further login run.
    let loginProfile: ProfileEntry[] | undefined;
    if (!(loginSummary.requestsPerSecond / argon2.perSecond >= TARGET_LOGIN_RATIO)) {
      loginProfile = await child.profile(() =>
        runLoad({
          ...login,
          duration: PROFILE_SECONDS,
          requests: [loginRequest(usernames, sessions)],
        }),
      );
    }

    // GET /auth/me latency, idle and while logins keep the hashing threads busy.
    const accessToken = sessions.accessToken;
    if (accessToken === undefined) {
      throw new Error("No login succeeded, so there is no access token for GET /auth/me.");
    }
    const probe = {
      url: `${url}/auth/me`,
      headers: { authorization: `Bearer ${accessToken}` },
      ratePerSecond: PROBE_RATE_PER_SECOND,
      seconds: PROBE_SECONDS,
    };
    await probeLatency({ ...probe, seconds: 1 });
    const idle = await probeLatency(probe);
    console.log(
      `  GET /auth/me idle: p50 ${idle.p50Ms.toFixed(2)} ms, p99 ${idle.p99Ms.toFixed(2)} ms`,
    );

    const loginLoad = runLoad({
      ...login,
      duration: PROBE_SECONDS + 2,
      requests: [loginRequest(usernames, sessions)],
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const loaded = await probeLatency(probe);
    const loadedLogins = await loginLoad;
    console.log(
      `  GET /auth/me during logins: p50 ${loaded.p50Ms.toFixed(2)} ms, p99 ${loaded.p99Ms.toFixed(2)} ms`,
    );

    // Refresh throughput: every request presents the newest token of some session.
    await fillSessions(url, usernames, sessions, MIN_SESSIONS);
    const sessionsAtStart = sessions.size;
    const counters = { starved: 0 };
    const refresh = { url: `${url}/auth/refresh`, connections: REFRESH_CONNECTIONS };
    await runLoad({
      ...refresh,
      duration: REFRESH_WARM_UP_SECONDS,
      requests: [refreshRequest(sessions, counters)],
    });
    cpuBefore = await child.cpuMicros();
    const refreshSummary = await runLoad({
      ...refresh,
      duration: REFRESH_MEASURE_SECONDS,
      requests: [refreshRequest(sessions, counters)],
    });
    const refreshCpuMicros = ((await child.cpuMicros()) - cpuBefore) / refreshSummary.responses;
    console.log(
      `  refresh: ${formatCount(refreshSummary.requestsPerSecond)}/s, non-200 ${refreshSummary.non2xx}, errors ${refreshSummary.errors}`,
    );

    // A missed target gets a profile of the server's main thread during a further refresh run.
    let refreshProfile: ProfileEntry[] | undefined;
    if (refreshSummary.requestsPerSecond < TARGET_REFRESH_PER_SECOND) {
      refreshProfile = await child.profile(() =>
        runLoad({
          ...refresh,
          duration: PROFILE_SECONDS,
          requests: [refreshRequest(sessions, counters)],
        }),
      );
    }

    return {
      algorithm: child.info.algorithm as string,
      argon2PerSecond: argon2.perSecond,
      argon2CpuMicros: argon2.cpuMicros,
      login: loginSummary,
      loginCpuMicros,
      loginProfile,
      idle,
      loaded,
      loadedLogins,
      sessionsAtStart,
      refresh: refreshSummary,
      refreshCpuMicros,
      refreshProfile,
      starved: counters.starved,
    };
  } finally {
    await floor.stop();
    await child.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function milliseconds(value: number): string {
  return `${value.toFixed(2)} ms`;
}

function renderSection(results: ServerResults, measuredOn: string): string {
  const refreshMet =
    results.refresh.requestsPerSecond >= TARGET_REFRESH_PER_SECOND &&
    results.refresh.non2xx === 0 &&
    results.refresh.errors === 0;
  const loginRatio = results.login.requestsPerSecond / results.argon2PerSecond;
  const meRatio = results.loaded.p99Ms / results.idle.p99Ms;

  const throughput = renderTable({
    headers: [
      "measurement",
      "result",
      "latency p50 / p99",
      "non-200",
      "server CPU",
      "target",
      "result",
    ],
    rows: [
      [
        "POST /auth/refresh",
        `${formatCount(results.refresh.requestsPerSecond)} req/s`,
        `${results.refresh.latencyP50Ms} / ${results.refresh.latencyP99Ms} ms`,
        `${results.refresh.non2xx} (errors ${results.refresh.errors})`,
        `${formatCount(results.refreshCpuMicros)} µs/req`,
        `>= ${formatCount(TARGET_REFRESH_PER_SECOND)} req/s, 0 non-200`,
        verdict(refreshMet),
      ],
      [
        "POST /auth/login",
        `${formatCount(results.login.requestsPerSecond)} req/s`,
        `${results.login.latencyP50Ms} / ${results.login.latencyP99Ms} ms`,
        `${results.login.non2xx} (errors ${results.login.errors})`,
        `${formatCount(results.loginCpuMicros)} µs/req`,
        "",
        "",
      ],
      [
        "raw argon2id verify (@node-rs/argon2)",
        `${formatCount(results.argon2PerSecond)} /s`,
        "",
        "",
        `${formatCount(results.argon2CpuMicros)} µs/verify`,
        "",
        "",
      ],
      [
        "login / raw argon2id",
        formatRatio(loginRatio),
        "",
        "",
        "",
        `>= ${TARGET_LOGIN_RATIO}x`,
        verdict(loginRatio >= TARGET_LOGIN_RATIO),
      ],
    ],
  });

  const latency = renderTable({
    headers: ["GET /auth/me", "requests", "p50", "p99", "max", "p99 vs idle", "target", "result"],
    rows: [
      [
        "idle server",
        String(results.idle.count),
        milliseconds(results.idle.p50Ms),
        milliseconds(results.idle.p99Ms),
        milliseconds(results.idle.maxMs),
        "1.00x",
        "",
        "",
      ],
      [
        `during logins (${formatCount(results.loadedLogins.requestsPerSecond)} logins/s)`,
        String(results.loaded.count),
        milliseconds(results.loaded.p50Ms),
        milliseconds(results.loaded.p99Ms),
        milliseconds(results.loaded.maxMs),
        formatRatio(meRatio),
        `<= ${TARGET_ME_P99_RATIO}x`,
        verdict(meRatio <= TARGET_ME_P99_RATIO),
      ],
    ],
  });

  const lines = [
    "## 2. Auth server",
    "",
    measuredOn,
    "",
    "How measured:",
    "",
    `- Server: a real Sello server (\`createSelloServer\`, the production code path) in a child process on 127.0.0.1, with a SQLite database in a new temporary folder, ${results.algorithm} access tokens (the default) and \`SELLO_LOG_LEVEL=silent\`. Both login limits are ${formatCount(LOGIN_LIMIT)}, the largest value the login limiter accepts; they count failed logins, and every benchmark login succeeds. The server creates ${USER_COUNT} users at start.`,
    "- Load: autocannon runs in the runner process on the same cores, so every figure is for the server and its load generator sharing the machine. Server CPU is the child's `process.cpuUsage` (all threads, argon2 hashing included) over the measured run, divided by the responses.",
    `- Refresh: ${REFRESH_CONNECTIONS} connections, ${REFRESH_WARM_UP_SECONDS} s of warm-up, then ${REFRESH_MEASURE_SECONDS} s measured. ${formatCount(results.sessionsAtStart)} sessions were logged in beforehand with \`refresh_token_delivery: "body"\`. Each request takes from a shared queue a refresh token that no request has presented yet, and each 200 response puts the successor it returns back in the queue, so no token is presented twice and the grace window is never used. Requests that found the queue empty: ${results.starved}.`,
    `- Login: ${LOGIN_CONCURRENCY} connections, ${LOGIN_WARM_UP_SECONDS} s of warm-up, ${LOGIN_MEASURE_SECONDS} s measured, correct passwords. The raw argon2id figure is @node-rs/argon2 \`verify\` with the same parameters (argon2id, memoryCost 19456, timeCost 2, parallelism 1) in a separate process with the default libuv thread pool (4 threads), ${LOGIN_CONCURRENCY} concurrent verifications for ${ARGON2_SECONDS} s in two halves, just before and just after the measured login run, while the server is idle. The server verifies on its own pool of worker threads, one per core (${availableParallelism()} here), at the lowest scheduling priority.`,
    `- GET /auth/me: a probe in the runner process sends ${PROBE_RATE_PER_SECOND} requests/s for ${PROBE_SECONDS} s with one access token over keep-alive connections, and times each from send to the end of the response (autocannon's whole-millisecond latencies are too coarse here). Idle: nothing else runs. During logins: the login load above runs at the same time and keeps the argon2 threads busy.`,
    "",
    "### Refresh and login throughput",
    "",
    throughput,
    "",
    "### GET /auth/me latency while logins saturate the hashing threads",
    "",
    latency,
  ];

  const misses: string[] = [];
  if (!refreshMet) {
    misses.push(
      `- Refresh: ${formatCount(results.refresh.requestsPerSecond)} req/s with ${results.refresh.non2xx} non-200 responses, target >= ${formatCount(TARGET_REFRESH_PER_SECOND)} req/s with none. The server spent ${formatCount(results.refreshCpuMicros)} µs of CPU per refresh, so one fully used core would give at most ${formatCount(1e6 / results.refreshCpuMicros)} refreshes/s.${results.refreshProfile === undefined ? "" : ` Self time on the server's main thread during a further ${PROFILE_SECONDS} s refresh run: ${formatProfile(results.refreshProfile)}.`}`,
    );
  }
  if (!(loginRatio >= TARGET_LOGIN_RATIO)) {
    misses.push(
      `- Login: ${formatRatio(loginRatio)} of raw argon2id throughput, target >= ${TARGET_LOGIN_RATIO}x. A login used ${formatCount(results.loginCpuMicros)} µs of server CPU against ${formatCount(results.argon2CpuMicros)} µs for one raw verification.${results.loginProfile === undefined ? "" : ` Self time on the server's main thread during a further ${PROFILE_SECONDS} s login run: ${formatProfile(results.loginProfile)}.`}`,
    );
  }
  if (!(meRatio <= TARGET_ME_P99_RATIO)) {
    misses.push(
      `- GET /auth/me p99 during logins: ${formatRatio(meRatio)} of idle, target <= ${TARGET_ME_P99_RATIO}x. The server hashes on ${availableParallelism()} worker threads at the lowest scheduling priority, so the event loop that serves /auth/me should get a core as soon as it has work; what is left is the login work on the event loop itself (parsing, the store, signing), which /auth/me requests wait behind, and the load generator, which shares the cores.`,
    );
  }
  if (misses.length > 0) {
    lines.push("", "### Missed targets", "", ...misses);
  }
  return lines.join("\n");
}

/** Runs section 2 and returns its RESULTS.md text. */
export async function runServerBenchmarks(measuredOn: string): Promise<SectionReport> {
  console.log("2. Auth server (autocannon against a child process)");
  const results = await measureServer();
  return { id: "server", markdown: renderSection(results, measuredOn) };
}
