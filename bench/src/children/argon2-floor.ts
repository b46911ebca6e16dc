/**
 * Raw argon2id verification throughput, the ceiling for login throughput: @node-rs/argon2
 * `verify` with the parameters Sello hashes passwords with, driven by a fixed number of
 * concurrent loops. It runs in its own process, with the default libuv thread pool (4 threads).
 * The server instead verifies on its own worker threads, one per core, at a low scheduling
 * priority.
 */
import { hash, verify } from "@node-rs/argon2";
import { processCpuMicros, reportFailure, reportReady, serveControl } from "./control.js";

/** Sello's password hash parameters (packages/server/src/passwords.ts): argon2id, 19 MiB, t=2, p=1. */
const HASH_OPTIONS = {
  algorithm: 2,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
  outputLen: 32,
} as const;

interface FloorResult {
  verifications: number;
  seconds: number;
  cpuMicros: number;
}

async function runFloor(
  storedHash: string,
  password: string,
  concurrency: number,
  seconds: number,
): Promise<FloorResult> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const cpuBefore = processCpuMicros();
  let verifications = 0;

  async function loop(): Promise<void> {
    while (performance.now() < deadline) {
      if (!(await verify(storedHash, password))) {
        throw new Error("argon2 verify rejected the password it was given.");
      }
      verifications++;
    }
  }

  await Promise.all(Array.from({ length: concurrency }, () => loop()));
  return {
    verifications,
    seconds: (performance.now() - started) / 1000,
    cpuMicros: processCpuMicros() - cpuBefore,
  };
}

async function main(): Promise<void> {
  const password = process.env.BENCH_PASSWORD;
  if (password === undefined) {
    throw new Error("Set BENCH_PASSWORD.");
  }
  const storedHash = await hash(password, HASH_OPTIONS);
  serveControl(async () => {}, {
    run: (message) =>
      runFloor(storedHash, password, Number(message.concurrency), Number(message.seconds)),
  });
  reportReady({ hash: storedHash.slice(0, storedHash.lastIndexOf("$")) });
}

main().catch(reportFailure);
