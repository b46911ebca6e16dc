import { type Algorithm, SelloError, type Store, type StoredKey } from "@sello/core";
import {
  decryptPrivateKey,
  encryptPrivateKey,
  generateKey,
  importHs256Secret,
  type Jwks,
  KeyRing,
  type KeyRingEntry,
  type KeySource,
  type SelloKey,
} from "@sello/core/node";

export interface KeyManagerOptions {
  store: Store;
  algorithm: Algorithm;
  /** Required in HS256 mode: the shared secret, which is never stored. */
  hs256Secret?: string | undefined;
  keyEncryptionKey: Buffer;
  /** Maximum lifetime of a signed token, in seconds. Retired keys keep verifying this long. */
  maxTokenLifetimeSeconds: number;
  /**
   * Seconds a new key is published in the JWKS before it signs. Must exceed the time resource
   * servers cache the JWKS, so that every guard has the key before it receives a token signed by it.
   */
  propagationDelaySeconds: number;
  /** Age in seconds after which the signing key is rotated automatically; 0 turns that off. */
  rotationIntervalSeconds: number;
  clock: () => number;
}

/** The minimum time between two reloads that `refresh` starts, in milliseconds. */
const REFRESH_COOLDOWN_MS = 1_000;

/** The state of a key rotation that was started. */
export interface ScheduledRotation {
  kid: string;
  alg: Algorithm;
  /** When the new key starts signing (ISO 8601). */
  activatesAt: string;
}

/**
 * The server's signing keys, kept in the store and loaded into a {@link KeyRing}. A rotation adds
 * a "next" key that is published at once and promoted to signing after the propagation delay.
 * The old key then verifies until every token it signed has expired, and leaves the JWKS after.
 * In HS256 mode the ring contains only the shared secret and never rotates.
 */
export class KeyManager implements KeySource {
  readonly #options: KeyManagerOptions;
  #ring: KeyRing;
  /** The tail of the queue that runs `rotate` and `tick` one at a time in this process. */
  #queue: Promise<unknown> = Promise.resolve();
  /** When `refresh` last reloaded the keys (ms since the epoch). */
  #refreshedAt = Number.NEGATIVE_INFINITY;

  private constructor(options: KeyManagerOptions, ring: KeyRing) {
    this.#options = options;
    this.#ring = ring;
  }

  /** Loads the keys, creating and storing a first signing key when none signs yet. */
  static async open(options: KeyManagerOptions): Promise<KeyManager> {
    if (options.algorithm === "HS256") {
      if (options.hs256Secret === undefined) {
        throw new TypeError(
          "HS256 mode needs a secret: set SELLO_HS256_SECRET or SELLO_HS256_SECRET_FILE.",
        );
      }
      const now = options.clock();
      const key = importHs256Secret(options.hs256Secret);
      const ring = new KeyRing([{ key, state: "current", createdAt: now, activatedAt: now }], {
        clock: options.clock,
      });
      return new KeyManager(options, ring);
    }

    const manager = new KeyManager(options, await loadRing(options));
    const current = manager.#ring.entries().find((entry) => entry.state === "current");
    if (current === undefined || current.key.alg !== options.algorithm) {
      await manager.#startSigningNow();
    }
    await manager.tick();
    return manager;
  }

  getKey(kid: string): SelloKey | undefined {
    return this.#ring.getKey(kid);
  }

  getOnlyKey(): SelloKey | undefined {
    return this.#ring.getOnlyKey();
  }

  getSigningKey(): SelloKey {
    return this.#ring.getSigningKey();
  }

  /**
   * Reloads the keys from the store when a token names a key that this instance does not hold,
   * which happens when another instance signs with a key stored since this one last reloaded.
   * Reloads at most once per {@link REFRESH_COOLDOWN_MS}, and resolves whether the key is now
   * known. Rejects with `service_unavailable` when the store cannot be read. A guard that is
   * given this manager as its keys calls it (see `RefreshableKeySource` in @sello/guard).
   */
  async refresh(kid: string | undefined): Promise<boolean> {
    if (kid === undefined || this.#options.algorithm === "HS256") {
      return false;
    }
    if (this.#ring.getKey(kid) !== undefined) {
      return true;
    }
    const now = this.#options.clock();
    if (now < this.#refreshedAt + REFRESH_COOLDOWN_MS) {
      return false;
    }
    this.#refreshedAt = now;
    try {
      await this.#exclusive(() => this.#reload());
    } catch (error) {
      throw new SelloError("service_unavailable", { reason: "key_reload_failed", cause: error });
    }
    return this.#ring.getKey(kid) !== undefined;
  }

  publicJwks(): Jwks {
    return this.#ring.publicJwks();
  }

  entries(): readonly KeyRingEntry[] {
    return this.#ring.entries();
  }

  /**
   * Starts a rotation: stores a new key of the configured algorithm as "next", published at once
   * and signing after the propagation delay. A rotation already under way is returned as is.
   * When instances sharing the store rotate at the same moment, the store keeps one of their keys
   * (see `listSettledKeys`), and this returns the key kept as seen when it returns.
   */
  async rotate(): Promise<ScheduledRotation> {
    if (this.#options.algorithm === "HS256") {
      throw new TypeError(
        "HS256 keys are shared secrets from the configuration; rotate them by changing the secret.",
      );
    }
    return this.#exclusive(() => this.#rotate());
  }

  async #rotate(): Promise<ScheduledRotation> {
    await this.#reload();
    const pending = this.#ring.entries().find((entry) => entry.state === "next");
    if (pending !== undefined) {
      return this.#describe(pending);
    }

    this.#ring.addNext(generateKey(this.#options.algorithm));
    const added = this.#ring.entries().find((entry) => entry.state === "next") as KeyRingEntry;
    await this.#options.store.saveKey(toStoredKey(added, this.#options.keyEncryptionKey));

    // Reloading settles a race with another instance: every instance keeps the same next key.
    await this.#reload();
    const next = this.#ring.entries().find((entry) => entry.state === "next");
    return this.#describe(next ?? added);
  }

  /**
   * Brings the ring up to date. It reloads the ring from the store, because another instance may
   * have rotated. It then promotes a next key whose propagation delay has passed, starts a
   * rotation when the signing key is older than the rotation interval, and removes retired keys
   * that no longer verify.
   */
  async tick(): Promise<void> {
    if (this.#options.algorithm === "HS256") {
      return;
    }
    await this.#exclusive(() => this.#tick());
  }

  async #tick(): Promise<void> {
    await this.#reload();
    const now = this.#options.clock();
    const entries = this.#ring.entries();
    const next = entries.find((entry) => entry.state === "next");
    const current = entries.find((entry) => entry.state === "current");

    if (
      next !== undefined &&
      now >= next.createdAt + this.#options.propagationDelaySeconds * 1000
    ) {
      this.#ring.promote(this.#options.maxTokenLifetimeSeconds);
      await this.#persist();
    } else if (
      next === undefined &&
      current !== undefined &&
      this.#options.rotationIntervalSeconds > 0 &&
      now >=
        (current.activatedAt ?? current.createdAt) + this.#options.rotationIntervalSeconds * 1000
    ) {
      await this.#rotate();
    }

    for (const removed of this.#ring.prune()) {
      await this.#options.store.deleteKey(removed.key.kid);
    }
  }

  /** Age of the signing key in seconds, for metrics. */
  signingKeyAgeSeconds(): number {
    const current = this.#ring.entries().find((entry) => entry.state === "current");
    if (current === undefined) return 0;
    return Math.max(0, (this.#options.clock() - (current.activatedAt ?? current.createdAt)) / 1000);
  }

  /** Makes a new key sign at once: used at first start and when the configured algorithm changes. */
  async #startSigningNow(): Promise<void> {
    const hasNext = this.#ring.entries().some((entry) => entry.state === "next");
    if (!hasNext) {
      this.#ring.addNext(generateKey(this.#options.algorithm));
    }
    this.#ring.promote(this.#options.maxTokenLifetimeSeconds);
    await this.#persist();
  }

  /** Runs `work` after every earlier `rotate` and `tick` of this process has settled. */
  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #reload(): Promise<void> {
    const stored = await listSettledKeys(this.#options);
    const known = new Set(this.#ring.entries().map((entry) => `${entry.key.kid}:${entry.state}`));
    const changed =
      stored.length !== known.size || stored.some((row) => !known.has(`${row.kid}:${row.state}`));
    if (changed) {
      this.#ring = buildRing(stored, this.#options);
    }
  }

  async #persist(): Promise<void> {
    await this.#options.store.updateKeys(
      this.#ring.entries().map((entry) => toStoredKey(entry, this.#options.keyEncryptionKey)),
    );
  }

  #describe(entry: KeyRingEntry): ScheduledRotation {
    return {
      kid: entry.key.kid,
      alg: entry.key.alg,
      activatesAt: new Date(
        entry.createdAt + this.#options.propagationDelaySeconds * 1000,
      ).toISOString(),
    };
  }
}

async function loadRing(options: KeyManagerOptions): Promise<KeyRing> {
  return buildRing(await listSettledKeys(options), options);
}

/**
 * Lists the stored keys after settling the races of instances that share a store, so that every
 * instance builds the same ring. Instances started at once on an empty store each store a current
 * key: the earliest activated one (then the lowest kid) stays current, and the others are retired
 * but keep verifying for the longest token lifetime, because they may have signed tokens already.
 * Instances that rotate at once each store a next key: the earliest created one (then the lowest
 * kid) stays, and the others are deleted.
 *
 * NOTE: The store has no lock for this. An instance that listed the keys just before another
 * stored its key loads the settled keys only at its next `tick` or `refresh`. With a propagation
 * delay of 0, a next key that another instance promotes between the listing and the delete is
 * deleted although it signs.
 */
async function listSettledKeys(options: KeyManagerOptions): Promise<StoredKey[]> {
  const { store } = options;
  let stored = await store.listKeys();

  const current = stored
    .filter((row) => row.state === "current")
    .sort(byTimeThenKid((row) => row.activatedAt ?? row.createdAt));
  if (current.length > 1) {
    const now = options.clock();
    const retired = new Map(
      current.slice(1).map((row): [string, StoredKey] => [
        row.kid,
        {
          ...row,
          state: "retired",
          retiredAt: now,
          verifyUntil: now + options.maxTokenLifetimeSeconds * 1000,
        },
      ]),
    );
    await store.updateKeys([...retired.values()]);
    stored = stored.map((row) => retired.get(row.kid) ?? row);
  }

  const next = stored
    .filter((row) => row.state === "next")
    .sort(byTimeThenKid((row) => row.createdAt));
  if (next.length > 1) {
    const extra = new Set(next.slice(1));
    for (const row of extra) {
      await store.deleteKey(row.kid);
    }
    stored = stored.filter((row) => !extra.has(row));
  }
  return stored;
}

/** Builds a comparator that orders keys by `timeOf`, then by kid, as every instance does. */
function byTimeThenKid(timeOf: (row: StoredKey) => number) {
  return (left: StoredKey, right: StoredKey): number => {
    const difference = timeOf(left) - timeOf(right);
    if (difference !== 0) {
      return difference;
    }
    if (left.kid === right.kid) {
      return 0;
    }
    return left.kid < right.kid ? -1 : 1;
  };
}

function buildRing(stored: StoredKey[], options: KeyManagerOptions): KeyRing {
  const entries = stored
    .filter((row) => row.alg !== "HS256")
    .map((row) => toEntry(row, options.keyEncryptionKey));
  return new KeyRing(entries, { clock: options.clock });
}

function toEntry(row: StoredKey, keyEncryptionKey: Buffer): KeyRingEntry {
  const key = decryptPrivateKey(row.sealedPrivateKey, keyEncryptionKey);
  return {
    key,
    state: row.state,
    createdAt: row.createdAt,
    ...(row.activatedAt === null ? {} : { activatedAt: row.activatedAt }),
    ...(row.retiredAt === null ? {} : { retiredAt: row.retiredAt }),
    ...(row.verifyUntil === null ? {} : { verifyUntil: row.verifyUntil }),
  };
}

function toStoredKey(entry: KeyRingEntry, keyEncryptionKey: Buffer): StoredKey {
  return {
    kid: entry.key.kid,
    alg: entry.key.alg,
    state: entry.state,
    sealedPrivateKey: encryptPrivateKey(entry.key, keyEncryptionKey),
    createdAt: entry.createdAt,
    activatedAt: entry.activatedAt ?? null,
    retiredAt: entry.retiredAt ?? null,
    verifyUntil: entry.verifyUntil ?? null,
  };
}
