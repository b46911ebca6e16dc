import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Algorithm, Store, StoredKey } from "@sello/core";
import {
  decryptPrivateKey,
  encryptPrivateKey,
  generateKey,
  importHs256Secret,
  KEY_ENCRYPTION_KEY_BYTES,
  KeyRing,
  type KeyRingEntry,
} from "@sello/core/node";

/**
 * Reads the key-encryption key (32 random bytes, base64) from `path`, creating the file with mode
 * 0600 when it does not exist. This key encrypts signing keys at rest and nothing else.
 */
export function loadKeyEncryptionKey(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new Error(`Cannot read the key-encryption key file ${path}.`, { cause: error });
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const key = randomBytes(KEY_ENCRYPTION_KEY_BYTES);
    writeFileSync(path, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(path, 0o600);
    return key;
  }

  const key = Buffer.from(text.trim(), "base64");
  if (key.length !== KEY_ENCRYPTION_KEY_BYTES) {
    throw new Error(
      `The key-encryption key file ${path} must hold ${KEY_ENCRYPTION_KEY_BYTES} bytes in base64 ` +
        "(for example the output of `openssl rand -base64 32`).",
    );
  }
  return key;
}

export interface KeyRingSetup {
  store: Store;
  algorithm: Algorithm;
  /** Required in HS256 mode: the shared secret. */
  hs256Secret?: string | undefined;
  keyEncryptionKey: Buffer;
  /** Maximum lifetime of a signed token, in seconds. Retired keys keep verifying this long. */
  maxTokenLifetimeSeconds: number;
  clock: () => number;
}

/**
 * Builds the server's key ring. In HS256 mode it contains only the shared secret, which is never
 * stored. Otherwise the keys come from the store, decrypted with the key-encryption key; when no
 * key of the configured algorithm signs yet, a new one is generated, stored and made current.
 */
export async function openKeyRing(setup: KeyRingSetup): Promise<KeyRing> {
  const now = setup.clock();

  if (setup.algorithm === "HS256") {
    if (setup.hs256Secret === undefined) {
      throw new TypeError(
        "HS256 mode needs a secret: set SELLO_HS256_SECRET or SELLO_HS256_SECRET_FILE.",
      );
    }
    const key = importHs256Secret(setup.hs256Secret);
    return new KeyRing([{ key, state: "current", createdAt: now, activatedAt: now }], {
      clock: setup.clock,
    });
  }

  const stored = await setup.store.listKeys();
  const entries = stored
    .filter((row) => row.alg !== "HS256")
    .map((row) => toEntry(row, setup.keyEncryptionKey));
  const ring = new KeyRing(entries, { clock: setup.clock });

  const current = entries.find((entry) => entry.state === "current");
  if (current === undefined || current.key.alg !== setup.algorithm) {
    await startSigningWithNewKey(ring, setup);
  }

  const pruned = ring.prune();
  for (const entry of pruned) {
    await setup.store.deleteKey(entry.key.kid);
  }
  return ring;
}

/**
 * Generates a key of the configured algorithm and makes it current at once, retiring the old
 * current key. Used at first start and when the configured algorithm changes.
 */
async function startSigningWithNewKey(ring: KeyRing, setup: KeyRingSetup): Promise<void> {
  const key = generateKey(setup.algorithm);
  const hasNext = ring.entries().some((entry) => entry.state === "next");
  if (hasNext) {
    ring.promote(setup.maxTokenLifetimeSeconds);
  }
  ring.addNext(key);
  ring.promote(setup.maxTokenLifetimeSeconds);

  await setup.store.updateKeys(
    ring.entries().map((entry) => toStoredKey(entry, setup.keyEncryptionKey)),
  );
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
