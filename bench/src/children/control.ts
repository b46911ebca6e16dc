/**
 * The child side of the control channel between the benchmark runner and a server it started
 * with child_process.fork. The runner sends `{ id, type, ...fields }` and gets back
 * `{ id, ok: true, result }` or `{ id, ok: false, message }`. Every child responds to `cpu` (its own
 * CPU time), `cpu-usage` (the same split into user and system time), `profile-start` and `profile-stop` (the functions with the most self time on its
 * main thread in between), and `stop`.
 */

import { type RunningProfile, startProfiling } from "../profile.js";

/** The profile that `profile-start` began, until `profile-stop` ends it. */
let profile: RunningProfile | undefined;

interface ControlMessage {
  id: number;
  type: string;
  [field: string]: unknown;
}

export type ControlHandler = (message: ControlMessage) => unknown;

/** Total CPU time of this process (user plus system, all threads) in microseconds. */
export function processCpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

function send(message: unknown): void {
  if (process.send === undefined) {
    throw new Error("This script is a benchmark child: start it with child_process.fork.");
  }
  process.send(message);
}

/**
 * Responds to the runner's requests until it sends `stop`, then runs `stop` and exits. Messages
 * other than `cpu` and `stop` go to `handlers` by their type.
 */
export function serveControl(
  stop: () => Promise<void>,
  handlers: Record<string, ControlHandler> = {},
): void {
  let stopping: Promise<void> | undefined;
  const stopOnce = () => {
    stopping ??= stop();
    return stopping;
  };
  process.on("message", (raw) => {
    const message = raw as ControlMessage;
    void answer(message, stopOnce, handlers);
  });
  // The runner going away must not leave a server behind.
  process.on("disconnect", () => {
    void stopOnce().finally(() => process.exit(0));
  });
}

async function answer(
  message: ControlMessage,
  stop: () => Promise<void>,
  handlers: Record<string, ControlHandler>,
): Promise<void> {
  try {
    if (message.type === "cpu") {
      send({ id: message.id, ok: true, result: processCpuMicros() });
      return;
    }
    if (message.type === "cpu-usage") {
      send({ id: message.id, ok: true, result: process.cpuUsage() });
      return;
    }
    if (message.type === "profile-start") {
      profile = await startProfiling();
      send({ id: message.id, ok: true, result: null });
      return;
    }
    if (message.type === "profile-stop") {
      const entries = (await profile?.stop()) ?? [];
      profile = undefined;
      send({ id: message.id, ok: true, result: entries });
      return;
    }
    if (message.type === "stop") {
      await stop();
      send({ id: message.id, ok: true, result: null });
      process.disconnect();
      return;
    }
    const handler = handlers[message.type];
    if (handler === undefined) {
      throw new Error(`Unknown control message type ${JSON.stringify(message.type)}.`);
    }
    send({ id: message.id, ok: true, result: await handler(message) });
  } catch (error) {
    send({
      id: message.id,
      ok: false,
      message: error instanceof Error ? error.message : String(error),
    });
  }
}

/** Tells the runner that the child is ready, with whatever it needs (such as the port). */
export function reportReady(info: Record<string, unknown>): void {
  send({ type: "ready", info });
}

/** Tells the runner that start-up failed, then exits. */
export function reportFailure(error: unknown): never {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  send({ type: "failed", message });
  process.exit(1);
}
