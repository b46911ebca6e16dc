import type { Guard, GuardRequest, GuardResult } from "./guard.js";

/**
 * The guard flow for one request, as the adapters run it: the result at once, or a promise only
 * when the flow has to wait, such as for a JWKS refetch.
 */
export type GuardFlow = (request: GuardRequest) => GuardResult | Promise<GuardResult>;

/**
 * The non-enumerable property on which `createGuard` keeps its synchronous flow and the `handle`
 * it wraps. It is internal to this package, because the index does not export it.
 */
export const guardFlowKey: unique symbol = Symbol("sello.guardFlow");

interface GuardFlowEntry {
  readonly handle: Guard["handle"];
  readonly flow: GuardFlow;
}

/** Attaches the synchronous flow to a guard that `createGuard` builds. */
export function attachGuardFlow(guard: Guard, flow: GuardFlow): void {
  const entry: GuardFlowEntry = { handle: guard.handle, flow };
  Object.defineProperty(guard, guardFlowKey, { value: entry });
}

/**
 * Returns the flow an adapter runs for each request. It is the guard's synchronous flow, so a
 * request costs no promise unless it must wait, when `createGuard` built the guard and its
 * `handle` is still the original. Otherwise, for a guard object of another origin or a
 * `handle` replaced before the adapter was created, it calls `handle`. Throws a TypeError when
 * `guard` is not a guard, so adapters call it before anything else reads the guard.
 */
export function guardFlow(guard: Guard): GuardFlow {
  checkGuard(guard);
  const entry = (guard as { [guardFlowKey]?: GuardFlowEntry })[guardFlowKey];
  if (entry !== undefined && entry.handle === guard.handle) {
    return entry.flow;
  }
  return (request) => guard.handle(request);
}

/**
 * Throws a TypeError when an adapter receives something other than a guard, so that the mistake
 * fails when the route is set up instead of as a 500 on every request.
 */
function checkGuard(guard: unknown): asserts guard is Guard {
  if (
    typeof guard === "object" &&
    guard !== null &&
    typeof (guard as Guard).handle === "function"
  ) {
    return;
  }
  const wrapped = typeof guard === "object" && guard !== null && "guard" in guard;
  throw new TypeError(
    wrapped
      ? "The adapter received an object with a guard property. Pass the guard itself, as in sello(guard); only the Fastify plugin takes { guard } as options."
      : `The adapter expects the guard that createGuard returns; got ${guard === null ? "null" : typeof guard}.`,
  );
}
