import autocannon, { type AutocannonOptions, type AutocannonResult } from "autocannon";

/** The summary of one load run. Latencies are autocannon's, in whole milliseconds. */
export interface LoadSummary {
  /** Responses received, of any status. */
  responses: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  durationSeconds: number;
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  statusCodes: Record<string, number>;
}

/** Runs autocannon against a loopback URL and resolves with its summary. */
export async function runLoad(options: AutocannonOptions): Promise<LoadSummary> {
  const host = new URL(options.url).hostname;
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "[::1]") {
    throw new Error(`Load runs only target loopback addresses; got ${host}.`);
  }
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    autocannon(options, (error, value) => (error === null ? resolve(value) : reject(error)));
  });

  const statusCodes: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) {
    statusCodes[code] = Number(stats.count);
  }
  const responses = Object.values(statusCodes).reduce((sum, count) => sum + count, 0);
  return {
    responses,
    non2xx: result.non2xx,
    errors: result.errors,
    durationSeconds: result.duration,
    requestsPerSecond: responses / result.duration,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    statusCodes,
  };
}
