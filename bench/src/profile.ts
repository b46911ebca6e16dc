import { Session } from "node:inspector/promises";

/** The share of CPU samples that one function spent in its own code. */
export interface ProfileEntry {
  /** The function name and the file it is in, such as "parseJson (json.ts)". */
  frame: string;
  /** Percent of all samples taken while the operation ran. */
  percent: number;
}

interface CallFrame {
  functionName: string;
  url: string;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
}

/** The sampling interval of the V8 profiler, in microseconds. */
const SAMPLING_INTERVAL_MICROS = 50;
/** How many functions a summary lists. */
const DEFAULT_LIMIT = 8;

function describeFrame(frame: CallFrame): string {
  const name = frame.functionName === "" ? "(anonymous)" : frame.functionName;
  if (frame.url === "") {
    return name;
  }
  const file = frame.url.slice(frame.url.lastIndexOf("/") + 1);
  return `${name} (${file})`;
}

/** A running V8 CPU profile of this process's main thread. */
export interface RunningProfile {
  stop(limit?: number): Promise<ProfileEntry[]>;
}

/** Starts the V8 sampling profiler of this process through node:inspector. */
export async function startProfiling(): Promise<RunningProfile> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_MICROS });
  await session.post("Profiler.start");
  return {
    async stop(limit = DEFAULT_LIMIT) {
      try {
        const { profile } = (await session.post("Profiler.stop")) as { profile: CpuProfile };
        return summariseSelfTime(profile, limit);
      } finally {
        session.disconnect();
      }
    },
  };
}

/**
 * Calls `operation` for `durationMs` under the V8 sampling profiler of this process and returns
 * the functions with the most self time, largest first. Used to explain a missed target.
 */
export async function profileOperation(
  operation: () => unknown,
  durationMs: number,
  limit = DEFAULT_LIMIT,
): Promise<ProfileEntry[]> {
  const profile = await startProfiling();
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    for (let index = 0; index < 16; index++) {
      await operation();
    }
  }
  return profile.stop(limit);
}

/**
 * Formats profile entries as "frame 12%, frame 9%, ...", or, given the measured cost of one
 * operation in microseconds, as "frame 1.2 µs (12%), ..." with each share turned into time.
 */
export function formatProfile(
  entries: readonly ProfileEntry[],
  microsPerOperation?: number,
): string {
  return entries
    .map((entry) => {
      const percent = `${entry.percent.toFixed(0)}%`;
      if (microsPerOperation === undefined) {
        return `${entry.frame} ${percent}`;
      }
      const micros = (entry.percent / 100) * microsPerOperation;
      return `${entry.frame} ${micros < 10 ? micros.toFixed(2) : micros.toFixed(1)} µs (${percent})`;
    })
    .join(", ");
}

function summariseSelfTime(profile: CpuProfile, limit: number): ProfileEntry[] {
  const frames = new Map<number, string>();
  for (const node of profile.nodes) {
    frames.set(node.id, describeFrame(node.callFrame));
  }

  const counts = new Map<string, number>();
  const samples = profile.samples ?? [];
  for (const id of samples) {
    const frame = frames.get(id) ?? "(unknown)";
    counts.set(frame, (counts.get(frame) ?? 0) + 1);
  }

  // Idle samples are time the thread waited, not work, so shares are of the busy samples.
  const busy = [...counts.entries()].filter(([frame]) => frame !== "(idle)");
  const total = Math.max(
    busy.reduce((sum, [, count]) => sum + count, 0),
    1,
  );
  return busy
    .filter(([frame]) => frame !== "(program)")
    .sort((left, right) => right[1] - left[1])
    .slice(0, limit)
    .map(([frame, count]) => ({ frame, percent: (count / total) * 100 }));
}
