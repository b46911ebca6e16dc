import type { KeySource, SelloKey } from "./types.js";

/** Builds a fixed {@link KeySource} from a list of keys, indexed by `kid`. */
export function createKeySet(keys: readonly SelloKey[]): KeySource {
  const byKid = new Map<string, SelloKey>();
  for (const key of keys) {
    if (byKid.has(key.kid)) {
      throw new TypeError(
        `Two keys share the kid ${JSON.stringify(key.kid)}; each kid must be unique.`,
      );
    }
    byKid.set(key.kid, key);
  }
  const only = keys.length === 1 ? keys[0] : undefined;

  return {
    getKey: (kid) => byKid.get(kid),
    getOnlyKey: () => only,
  };
}
