/**
 * Sello instances that share PostgreSQL and Redis: refresh throughput on PostgreSQL, and how long
 * a logout on one instance takes to reach another. The runner starts each instance with
 * BenchChild, as a child process that runs this file with `--cluster-instance`.
 *
 * Run this section alone, without writing RESULTS.md:
 *   node --conditions=sello-source --import tsx bench/src/cluster.ts
 * BENCH_POSTGRES_URL and BENCH_REDIS_URL choose the servers (default: PostgreSQL database `test`
 * and Redis on 127.0.0.1). The run uses a new schema and key prefix, and removes both afterwards.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createSelloServer, loadConfig } from "@sello/server";
import type { AutocannonRequest } from "autocannon";
import { Redis } from "ioredis";
import pg from "pg";
import { BenchChild } from "./child.js";
import { reportFailure, reportReady, serveControl } from "./children/control.js";
import { type LoadSummary, runLoad } from "./load.js";
import { formatCount, renderTable, verdict } from "./report.js";

const INSTANCE_FLAG = "--cluster-instance";

const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

/** Users that instance A creates at start. Logins cycle through them. */
const USER_COUNT = 16;
/** The password of every benchmark user: long and not on the common-password list. */
const PASSWORD = "bench-Kestrel-harbour-7241";
/** Both login limits: they count failed logins only, and every benchmark login succeeds. */
const LOGIN_LIMIT = 1000;
/** Concurrent logins while sessions are opened before a run. */
const LOGIN_CONCURRENCY = 8;

/** The unit of utime and stime in /proc/<pid>/stat (USER_HZ): 100 on x86-64 Linux, as `getconf CLK_TCK` prints. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Keep-alive connections of every refresh run, split evenly over the instances. */
const REFRESH_CONNECTIONS = 64;
const REFRESH_WARM_UP_SECONDS = 2;
const REFRESH_MEASURE_SECONDS = 10;
const TARGET_REFRESH_PER_SECOND = 1500;

/** Connections and duration of the PostgreSQL commit-rate run (the store's default pool is 10). */
const COMMIT_CONNECTIONS = 10;
const COMMIT_SECONDS = 5;

const REVOCATION_TRIALS = 200;
const TARGET_REVOCATION_P99_MS = 100;
/** How long one trial may poll before the logged-out token counts as never rejected. */
const REVOCATION_TIMEOUT_MS = 5_000;

/** One row of the section's table in RESULTS.md. Every cell is ready-formatted text. */
export interface ClusterRow {
  measurement: string;
  result: string;
  detail: string;
  target: string;
  /** "met", "**missed**", or empty when the row has no target. */
  verdict: string;
}

/** The section's rows, and its Markdown text for RESULTS.md (heading, method, tables). */
export interface ClusterReport {
  id: "cluster";
  markdown: string;
  rows: ClusterRow[];
}

interface RefreshRun {
  instances: number;
  load: LoadSummary;
  serverCpuMicros: number;
  /** CPU time of every PostgreSQL process per response, other clients' work included. */
  postgresCpuMicros: number;
  /** CPU time of the runner, mostly autocannon, per response. */
  runnerCpuMicros: number;
  /** Requests that found no session to take, which the run sends as a malformed token. */
  starved: number;
  /** Chains cut by a non-200 response, after which the connection takes a new session. */
  brokenChains: number;
}

interface RevocationRun {
  trials: number;
  fromResponse: number[];
  fromRequest: number[];
}

interface ClusterResults {
  commitsPerSecond: number;
  /** PostgreSQL's `synchronous_commit` setting during the run. */
  synchronousCommit: string;
  refresh: RefreshRun[];
  revocation: RevocationRun;
}

/** The shared PostgreSQL schema, Redis prefix and key-encryption key of one benchmark run. */
interface SharedSetup {
  workDir: string;
  schema: string;
  redisPrefix: string;
  environment: Record<string, string>;
}

/** Returns a value at `fraction` (0 to 1) of `values`, by the nearest-rank method. */
function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((left, right) => left - right);
  if (sorted.length === 0) {
    return Number.NaN;
  }
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[index] as number;
}

/** Returns "1 instance" or "N instances". */
function describeInstances(count: number): string {
  return count === 1 ? "1 instance" : `${count} instances`;
}

function milliseconds(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(1)} ms` : "n/a";
}

function loopbackOnly(url: string, name: string): void {
  const host = new URL(url).hostname;
  if (!["127.0.0.1", "localhost", "[::1]"].includes(host)) {
    throw new Error(`${name} must point to a loopback address; got ${host}.`);
  }
}

async function checkServers(): Promise<void> {
  loopbackOnly(POSTGRES_URL, "BENCH_POSTGRES_URL");
  loopbackOnly(REDIS_URL, "BENCH_REDIS_URL");
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query("select 1");
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable; start it or set BENCH_POSTGRES_URL (${String(error)}).`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis is not reachable; start it or set BENCH_REDIS_URL (${String(error)}).`);
  } finally {
    redis.disconnect();
  }
}

function createSharedSetup(): SharedSetup {
  const workDir = mkdtempSync(join(tmpdir(), "sello-bench-cluster-"));
  const suffix = randomBytes(6).toString("hex");
  const schema = `sello_bench_${suffix}`;
  const redisPrefix = `bench-${suffix}`;
  const keyEncryptionKeyFile = join(workDir, "key-encryption.key");
  writeFileSync(keyEncryptionKeyFile, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
  const databaseUrl = new URL(POSTGRES_URL);
  databaseUrl.searchParams.set("schema", schema);

  return {
    workDir,
    schema,
    redisPrefix,
    environment: {
      SELLO_HOST: "127.0.0.1",
      SELLO_PORT: "0",
      // One issuer for every instance. No request goes to this URL.
      SELLO_PUBLIC_URL: "http://127.0.0.1",
      SELLO_DATABASE_URL: databaseUrl.href,
      SELLO_REDIS_URL: REDIS_URL,
      SELLO_REDIS_PREFIX: redisPrefix,
      SELLO_KEY_ENCRYPTION_KEY_FILE: keyEncryptionKeyFile,
      SELLO_LOG_LEVEL: "silent",
      SELLO_DEMO_USERS: "off",
      SELLO_LOGIN_MAX_ATTEMPTS_PER_IP: String(LOGIN_LIMIT),
      SELLO_LOGIN_MAX_ATTEMPTS_PER_ACCOUNT: String(LOGIN_LIMIT),
    },
  };
}

async function removeSharedSetup(setup: SharedSetup): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  try {
    await client.connect();
    await client.query(`drop schema if exists "${setup.schema}" cascade`);
  } finally {
    await client.end().catch(() => undefined);
  }

  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `sello:${setup.redisPrefix}:*`);
      cursor = next;
      if (keys.length > 0) {
        await redis.del(...keys);
      }
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  rmSync(setup.workDir, { recursive: true, force: true });
}

/** Starts one instance. The first one also creates the benchmark users. */
async function startInstance(
  setup: SharedSetup,
  name: string,
  createUsers: boolean,
): Promise<BenchChild> {
  const dataDir = join(setup.workDir, name);
  mkdirSync(dataDir);
  return BenchChild.start("./cluster.ts", [INSTANCE_FLAG], {
    ...setup.environment,
    SELLO_DATA_DIR: dataDir,
    BENCH_USER_COUNT: createUsers ? String(USER_COUNT) : "0",
    BENCH_PASSWORD: PASSWORD,
  });
}

async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text };
}

/** Logs in `count` sessions with body delivery, and returns their access and refresh tokens. */
async function openSessions(
  url: string,
  count: number,
): Promise<Array<{ accessToken: string; refreshToken: string }>> {
  const sessions: Array<{ accessToken: string; refreshToken: string }> = [];
  let next = 0;
  async function worker(): Promise<void> {
    while (next < count) {
      const username = `bench-user-${next++ % USER_COUNT}`;
      const response = await postJson(`${url}/auth/login`, {
        username,
        password: PASSWORD,
        refresh_token_delivery: "body",
      });
      if (response.status !== 200) {
        throw new Error(`Login failed with status ${response.status}: ${response.text}`);
      }
      const body = JSON.parse(response.text) as { access_token: string; refresh_token: string };
      sessions.push({ accessToken: body.access_token, refreshToken: body.refresh_token });
    }
  }
  await Promise.all(Array.from({ length: LOGIN_CONCURRENCY }, () => worker()));
  return sessions;
}

/**
 * Requests a connection sends in turn before autocannon starts its list again. autocannon resets
 * a connection's context at that point, so the last request hands its successor to the shared
 * pool and the first one takes a token from it.
 */
const REQUEST_LIST_LENGTH = 1000;

/**
 * autocannon requests that chain refresh tokens per connection: a connection presents the
 * successor from its own previous response, so no token is ever presented twice. It takes a
 * token from `pool` on its first request and after a non-200 response, which cuts its chain.
 */
function chainedRefreshRequests(
  pool: string[],
  counters: { starved: number; brokenChains: number },
): AutocannonRequest[] {
  return Array.from({ length: REQUEST_LIST_LENGTH }, (_, index) => ({
    method: "POST",
    path: "/auth/refresh",
    headers: { "content-type": "application/json" },
    setupRequest: (request: AutocannonRequest, context: Record<string, unknown>) => {
      if (typeof context.refreshToken !== "string") {
        const token = pool.pop();
        if (token === undefined) {
          counters.starved++;
        }
        context.refreshToken = token ?? "no-session-left";
      }
      return { ...request, body: JSON.stringify({ refresh_token: context.refreshToken }) };
    },
    onResponse: (status: number, body: string, context: Record<string, unknown>) => {
      if (status !== 200) {
        counters.brokenChains++;
        context.refreshToken = undefined;
        return;
      }
      const successor = (JSON.parse(body) as { refresh_token: string }).refresh_token;
      if (index === REQUEST_LIST_LENGTH - 1) {
        pool.push(successor);
      } else {
        context.refreshToken = successor;
      }
    },
  }));
}

/** Runs one chained refresh load against every instance at once and sums the results. */
async function runRefreshLoad(
  instances: readonly BenchChild[],
  seconds: number,
): Promise<{
  load: LoadSummary;
  cpuMicros: number;
  postgresCpuMicros: number;
  runnerCpuMicros: number;
  starved: number;
  brokenChains: number;
}> {
  const perInstance = REFRESH_CONNECTIONS / instances.length;
  const counters = { starved: 0, brokenChains: 0 };
  const pools = await Promise.all(
    instances.map(async (instance) => {
      // Twice the connections, so that a broken chain can pick up another session.
      const sessions = await openSessions(instance.info.url as string, perInstance * 2);
      return sessions.map((session) => session.refreshToken);
    }),
  );

  const cpuBefore = await Promise.all(instances.map((instance) => instance.cpuMicros()));
  const postgresBefore = postgresCpuMicros();
  const runnerBefore = process.cpuUsage();
  const loads = await Promise.all(
    instances.map((instance, index) =>
      runLoad({
        url: `${instance.info.url as string}/auth/refresh`,
        connections: perInstance,
        duration: seconds,
        requests: chainedRefreshRequests(pools[index] as string[], counters),
      }),
    ),
  );
  const runner = process.cpuUsage(runnerBefore);
  const postgresAfter = postgresCpuMicros();
  const cpuAfter = await Promise.all(instances.map((instance) => instance.cpuMicros()));

  const load = sumLoads(loads);
  const cpu = cpuAfter.reduce((sum, after, index) => sum + after - (cpuBefore[index] as number), 0);
  return {
    load,
    cpuMicros: cpu / load.responses,
    postgresCpuMicros: (postgresAfter - postgresBefore) / load.responses,
    runnerCpuMicros: (runner.user + runner.system) / load.responses,
    ...counters,
  };
}

/**
 * Returns the CPU time (user plus system) of every process named `postgres` on this machine, in
 * microseconds, from /proc. It includes the work of every other client of that PostgreSQL, and a
 * backend that exits takes its time with it. NaN where /proc cannot be read.
 */
function postgresCpuMicros(): number {
  let ticks = 0;
  try {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) {
        continue;
      }
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      } catch {
        continue; // The process exited while the folder was read.
      }
      const nameEnd = stat.lastIndexOf(")");
      if (stat.slice(stat.indexOf("(") + 1, nameEnd) !== "postgres") {
        continue;
      }
      // The fields after the name start at field 3, so utime (14) and stime (15) are 11 and 12.
      const fields = stat.slice(nameEnd + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    }
  } catch {
    return Number.NaN;
  }
  return (ticks * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/** Adds up concurrent load runs. The latencies are the worst of the runs. */
function sumLoads(loads: readonly LoadSummary[]): LoadSummary {
  const statusCodes: Record<string, number> = {};
  for (const load of loads) {
    for (const [code, count] of Object.entries(load.statusCodes)) {
      statusCodes[code] = (statusCodes[code] ?? 0) + count;
    }
  }
  return {
    responses: loads.reduce((sum, load) => sum + load.responses, 0),
    non2xx: loads.reduce((sum, load) => sum + load.non2xx, 0),
    errors: loads.reduce((sum, load) => sum + load.errors, 0),
    durationSeconds: Math.max(...loads.map((load) => load.durationSeconds)),
    requestsPerSecond: loads.reduce((sum, load) => sum + load.requestsPerSecond, 0),
    latencyP50Ms: Math.max(...loads.map((load) => load.latencyP50Ms)),
    latencyP99Ms: Math.max(...loads.map((load) => load.latencyP99Ms)),
    statusCodes,
  };
}

async function measureRefresh(instances: readonly BenchChild[]): Promise<RefreshRun> {
  await runRefreshLoad(instances, REFRESH_WARM_UP_SECONDS);
  const measured = await runRefreshLoad(instances, REFRESH_MEASURE_SECONDS);
  console.log(
    `  refresh on ${describeInstances(instances.length)}: ${formatCount(measured.load.requestsPerSecond)}/s, non-200 ${measured.load.non2xx}, errors ${measured.load.errors}`,
  );
  return {
    instances: instances.length,
    load: measured.load,
    serverCpuMicros: measured.cpuMicros,
    postgresCpuMicros: measured.postgresCpuMicros,
    runnerCpuMicros: measured.runnerCpuMicros,
    starved: measured.starved,
    brokenChains: measured.brokenChains,
  };
}

/**
 * Measures how many single-row INSERT transactions PostgreSQL commits per second with
 * `COMMIT_CONNECTIONS` connections: the write rate that bounds refreshes, each of which commits
 * one transaction.
 */
async function measureCommitRate(
  schema: string,
): Promise<{ perSecond: number; synchronousCommit: string }> {
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: COMMIT_CONNECTIONS });
  try {
    const setting = await pool.query<{ synchronous_commit: string }>("show synchronous_commit");
    await pool.query(
      `create table "${schema}".bench_commits (id bigserial primary key, at bigint)`,
    );
    let commits = 0;
    const deadline = performance.now() + COMMIT_SECONDS * 1000;
    const worker = async () => {
      while (performance.now() < deadline) {
        await pool.query(`insert into "${schema}".bench_commits (at) values ($1)`, [Date.now()]);
        commits++;
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: COMMIT_CONNECTIONS }, () => worker()));
    const perSecond = commits / ((performance.now() - started) / 1000);
    console.log(`  PostgreSQL commits: ${formatCount(perSecond)}/s`);
    return { perSecond, synchronousCommit: setting.rows[0]?.synchronous_commit ?? "unknown" };
  } finally {
    await pool.end();
  }
}

/**
 * Logs in on `first`, logs out on `second` with the access token as a bearer token, then polls
 * GET /auth/me on `first` back to back until it returns 401. Records the delay from the logout
 * response and from the moment the logout request was sent.
 */
async function measureRevocation(first: BenchChild, second: BenchChild): Promise<RevocationRun> {
  const firstUrl = first.info.url as string;
  const secondUrl = second.info.url as string;
  const sessions = await openSessions(firstUrl, REVOCATION_TRIALS);
  const fromResponse: number[] = [];
  const fromRequest: number[] = [];

  for (const session of sessions) {
    const authorization = { authorization: `Bearer ${session.accessToken}` };
    const before = await fetch(`${firstUrl}/auth/me`, { headers: authorization });
    await before.arrayBuffer();
    if (before.status !== 200) {
      throw new Error(`GET /auth/me returned status ${before.status} before the logout.`);
    }

    const sentAt = performance.now();
    const logout = await fetch(`${secondUrl}/auth/logout`, {
      method: "POST",
      headers: authorization,
    });
    const respondedAt = performance.now();
    await logout.arrayBuffer();
    if (logout.status !== 204) {
      throw new Error(`POST /auth/logout returned status ${logout.status}, expected 204.`);
    }

    for (;;) {
      const probe = await fetch(`${firstUrl}/auth/me`, { headers: authorization });
      await probe.arrayBuffer();
      const now = performance.now();
      if (probe.status === 401) {
        fromResponse.push(now - respondedAt);
        fromRequest.push(now - sentAt);
        break;
      }
      if (probe.status !== 200 || now - respondedAt > REVOCATION_TIMEOUT_MS) {
        throw new Error(
          `GET /auth/me returned status ${probe.status} ${(now - respondedAt).toFixed(0)} ms after the logout.`,
        );
      }
    }
  }
  console.log(
    `  revocation A <- B: p50 ${milliseconds(percentile(fromResponse, 0.5))}, p99 ${milliseconds(percentile(fromResponse, 0.99))}`,
  );
  return { trials: sessions.length, fromResponse, fromRequest };
}

async function measureCluster(): Promise<ClusterResults> {
  await checkServers();
  const setup = createSharedSetup();
  const instances: BenchChild[] = [];
  try {
    // The first instance creates the schema, the first signing key and the users.
    instances.push(await startInstance(setup, "A", true));
    const commits = await measureCommitRate(setup.schema);
    const refresh = [await measureRefresh(instances)];

    instances.push(await startInstance(setup, "B", false));
    refresh.push(await measureRefresh(instances));

    const revocation = await measureRevocation(
      instances[0] as BenchChild,
      instances[1] as BenchChild,
    );
    return {
      commitsPerSecond: commits.perSecond,
      synchronousCommit: commits.synchronousCommit,
      refresh,
      revocation,
    };
  } finally {
    for (const instance of instances) {
      await instance.stop();
    }
    await removeSharedSetup(setup);
  }
}

function buildRows(results: ClusterResults): ClusterRow[] {
  const rows: ClusterRow[] = [];
  for (const run of results.refresh) {
    const met =
      run.load.requestsPerSecond >= TARGET_REFRESH_PER_SECOND &&
      run.load.non2xx === 0 &&
      run.load.errors === 0;
    rows.push({
      measurement: `POST /auth/refresh, ${describeInstances(run.instances)}, ${REFRESH_CONNECTIONS / run.instances} connections each`,
      result: `${formatCount(run.load.requestsPerSecond)} req/s`,
      detail: `latency p50 ${run.load.latencyP50Ms} ms, p99 ${run.load.latencyP99Ms} ms; non-200 ${run.load.non2xx}, errors ${run.load.errors}; CPU per request: server ${formatCount(run.serverCpuMicros)} µs, PostgreSQL ${formatCount(run.postgresCpuMicros)} µs, runner ${formatCount(run.runnerCpuMicros)} µs`,
      target: `>= ${formatCount(TARGET_REFRESH_PER_SECOND)} req/s, 0 non-200`,
      verdict: verdict(met),
    });
  }
  rows.push({
    measurement: `PostgreSQL single-row INSERT commits, ${COMMIT_CONNECTIONS} connections`,
    result: `${formatCount(results.commitsPerSecond)} /s`,
    detail: "no Sello server under load while it ran",
    target: "",
    verdict: "",
  });

  const { fromResponse, fromRequest, trials } = results.revocation;
  const p99 = percentile(fromResponse, 0.99);
  rows.push({
    measurement: `Logout on B until A returns 401, ${trials} trials`,
    result: `p50 ${milliseconds(percentile(fromResponse, 0.5))}, p99 ${milliseconds(p99)}`,
    detail: `max ${milliseconds(Math.max(...fromResponse))}; from sending the logout: p50 ${milliseconds(percentile(fromRequest, 0.5))}, p99 ${milliseconds(percentile(fromRequest, 0.99))}`,
    target: `p99 < ${TARGET_REVOCATION_P99_MS} ms`,
    verdict: verdict(p99 < TARGET_REVOCATION_P99_MS),
  });
  return rows;
}

function renderSection(results: ClusterResults, rows: readonly ClusterRow[], measuredOn: string) {
  const table = renderTable({
    headers: ["measurement", "result", "detail", "target", "result"],
    rows: rows.map((row) => [row.measurement, row.result, row.detail, row.target, row.verdict]),
  });
  const lines = [
    "## 5. Instances sharing PostgreSQL and Redis",
    "",
    measuredOn,
    "",
    "How measured: each instance is a real Sello server (`createSelloServer`) in its own child",
    "process on 127.0.0.1, with a new PostgreSQL schema, a new Redis key prefix, one",
    "key-encryption key file and one public URL for all of them, ES256 access tokens,",
    "`SELLO_LOG_LEVEL=silent` and both login limits at 1,000. PostgreSQL and Redis are the",
    "machine's own servers, so they share the same cores with the instances and with autocannon,",
    "which runs in the runner process. CPU per request is the CPU time used during the measured run",
    "divided by the responses: for the server, the instances' `process.cpuUsage`; for PostgreSQL,",
    "utime plus stime in /proc of every `postgres` process (other clients' work included); for the",
    "runner, its own `process.cpuUsage`, mostly autocannon.",
    "",
    `- Refresh: ${REFRESH_CONNECTIONS} keep-alive connections split evenly over the instances, ${REFRESH_WARM_UP_SECONDS} s of warm-up, then`,
    `  ${REFRESH_MEASURE_SECONDS} s measured, with body delivery. Each connection starts from a freshly logged-in session`,
    "  and then presents the refresh token from its own previous response, so no token is presented",
    `  twice. autocannon clears a connection's state every ${formatCount(REQUEST_LIST_LENGTH)} requests, so the connection then`,
    "  passes its latest token through a shared pool and continues with a token from it. Requests",
    `  that found no session: ${results.refresh.map((run) => run.starved).join(" and ")}. Chains broken by a non-200 response:`,
    `  ${results.refresh.map((run) => run.brokenChains).join(" and ")}. Each refresh is one PostgreSQL statement, a`,
    "  prepared statement that marks the token rotated, inserts its successor, updates the session",
    "  and returns it with its user, so one round trip and one commit.",
    `- PostgreSQL commits: ${COMMIT_CONNECTIONS} connections from the runner insert one row per statement, each its`,
    `  own transaction, for ${COMMIT_SECONDS} s, with \`synchronous_commit\` at \`${results.synchronousCommit}\`.`,
    `- Revocation: ${results.revocation.trials} sessions logged in on A; for each, GET /auth/me on A (200), POST /auth/logout`,
    "  on B with the access token as a bearer token, then GET /auth/me on A back to back until it",
    "  returns 401. The delay runs from the logout response (and, second, from sending the logout)",
    "  to the 401 response, so it includes one request to A.",
    "",
    table,
  ];

  const misses = rows.filter((row) => row.verdict === verdict(false));
  if (misses.length > 0) {
    lines.push("", "### Missed targets", "");
    for (const row of misses) {
      lines.push(`- ${row.measurement}: ${row.result}, target ${row.target}.`);
    }
    if (misses.some((row) => row.measurement.startsWith("POST /auth/refresh"))) {
      for (const run of results.refresh) {
        const total = run.serverCpuMicros + run.postgresCpuMicros + run.runnerCpuMicros;
        lines.push(
          `- With ${describeInstances(run.instances)}, a refresh used ${formatCount(total)} µs of CPU in all (server ${formatCount(run.serverCpuMicros)}, PostgreSQL ${formatCount(run.postgresCpuMicros)}, runner ${formatCount(run.runnerCpuMicros)}), so ${availableParallelism()} fully used cores give at most ${formatCount((availableParallelism() * 1e6) / total)} refreshes/s.`,
        );
      }
    }
  }
  return lines.join("\n");
}

/** Runs the cluster section and returns its rows and its RESULTS.md text. */
export async function runClusterBenchmarks(measuredOn: string): Promise<ClusterReport> {
  console.log("5. Instances sharing PostgreSQL and Redis (autocannon against child processes)");
  const results = await measureCluster();
  const rows = buildRows(results);
  return { id: "cluster", markdown: renderSection(results, rows, measuredOn), rows };
}

/**
 * Runs one Sello server from the SELLO_* environment, as a child of the runner. With
 * BENCH_USER_COUNT above 0 it creates users bench-user-0, bench-user-1, … with BENCH_PASSWORD
 * before it reports ready.
 */
async function serveInstance(): Promise<void> {
  const userCount = Number(process.env.BENCH_USER_COUNT ?? "0");
  const password = process.env.BENCH_PASSWORD;
  if (!Number.isSafeInteger(userCount) || userCount < 0 || password === undefined) {
    throw new Error("Set BENCH_USER_COUNT to a whole number and BENCH_PASSWORD.");
  }

  const config = loadConfig(process.env, { cwd: process.env.SELLO_DATA_DIR ?? process.cwd() });
  const server = await createSelloServer({ config });
  for (let index = 0; index < userCount; index++) {
    await server.auth.createUser(`bench-user-${index}`, password, ["viewer"]);
  }
  const url = await server.listen();
  serveControl(() => server.close());
  reportReady({ url });
}

if (process.argv[2] === INSTANCE_FLAG) {
  serveInstance().catch(reportFailure);
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const date = new Date().toISOString().slice(0, 16).replace("T", " ");
  const load = loadavg()[0]?.toFixed(2) ?? "unknown";
  const measuredOn = `Measured on ${date} UTC; 1-minute load average when the section started: ${load}.`;
  const report = await runClusterBenchmarks(measuredOn);
  console.log(`\n${report.markdown}`);
}
