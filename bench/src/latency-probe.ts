import { Agent, request } from "node:http";

/** Latencies of a paced series of requests, in milliseconds with sub-millisecond resolution. */
export interface ProbeResult {
  /** Requests that completed with the expected status. */
  count: number;
  /** Requests that failed or responded with another status. */
  failures: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ProbeOptions {
  url: string;
  headers: Record<string, string>;
  /** Requests started per second, evenly spaced, whether or not earlier ones have completed. */
  ratePerSecond: number;
  seconds: number;
  expectedStatus?: number;
}

function percentile(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) {
    return Number.NaN;
  }
  const index = Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1);
  return sorted[Math.max(index, 0)] as number;
}

/**
 * Sends GET requests at a fixed rate over keep-alive connections and measures each one from
 * the moment it is sent until its response has been read. autocannon records whole
 * milliseconds, too coarse for a sub-millisecond idle latency, hence this probe.
 */
export async function probeLatency(options: ProbeOptions): Promise<ProbeResult> {
  const { url, headers, ratePerSecond, seconds, expectedStatus = 200 } = options;
  const target = new URL(url);
  if (!["127.0.0.1", "localhost", "[::1]"].includes(target.hostname)) {
    throw new Error(`The latency probe only targets loopback addresses; got ${target.hostname}.`);
  }

  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const latencies: number[] = [];
  let failures = 0;
  const inFlight: Promise<void>[] = [];

  const sendOne = () =>
    new Promise<void>((resolve) => {
      const started = performance.now();
      const outgoing = request(target, { method: "GET", headers, agent }, (response) => {
        response.resume();
        response.on("end", () => {
          if (response.statusCode === expectedStatus) {
            latencies.push(performance.now() - started);
          } else {
            failures++;
          }
          resolve();
        });
      });
      outgoing.on("error", () => {
        failures++;
        resolve();
      });
      outgoing.end();
    });

  const total = Math.round(ratePerSecond * seconds);
  const interval = 1000 / ratePerSecond;
  const start = performance.now();
  for (let index = 0; index < total; index++) {
    const due = start + index * interval;
    const wait = due - performance.now();
    if (wait > 0) {
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
    inFlight.push(sendOne());
  }
  await Promise.all(inFlight);
  agent.destroy();

  const sorted = latencies.sort((left, right) => left - right);
  return {
    count: sorted.length,
    failures,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.at(-1) ?? Number.NaN,
  };
}
